package api_test

import (
	"os"
	"os/exec"
	"testing"
)

// chromiumInstall says how to get what the browser tests need.
const chromiumInstall = "apt-get install -y chromium chromium-driver (scripts/test.sh does)"

// requireChromium returns the path of a headless-capable Chromium and, when
// withDriver, of chromedriver. When one is missing the test follows the
// rule of the PostgreSQL and S3 tests: under CI=true it fails, otherwise it
// is skipped with a loud message saying how to install them.
func requireChromium(t testing.TB, withDriver bool) (browser, driver string) {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			browser = p
			break
		}
	}
	var missing string
	switch {
	case browser == "":
		missing = "headless Chromium (chromium, chromium-browser or google-chrome)"
	case withDriver:
		p, err := exec.LookPath("chromedriver")
		if err != nil {
			missing = "chromedriver"
		}
		driver = p
	}
	if missing != "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not on PATH and CI=true requires it: %s", missing, chromiumInstall)
		}
		t.Skipf("SKIPPED: %s is not on PATH and this browser test needs it: %s", missing, chromiumInstall)
	}
	return browser, driver
}
