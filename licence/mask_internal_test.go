package licence

import "testing"

func TestMaskIn(t *testing.T) {
	const id, masked = "42060219900101123X", "420602********123X"
	for in, want := range map[string]string{
		"42060219900101123X":                     masked,
		"No.42060219900101123x":                  "No." + masked,
		"ı42060219900101123x":                    "ı" + masked, // a letter whose upper case is longer
		"甲42060219900101123X乙42060219900101123x": "甲" + masked + "乙" + masked,
		"XY123": "XY123",
	} {
		if got := maskIn(in, id, masked); got != want {
			t.Errorf("maskIn(%q) = %q, want %q", in, got, want)
		}
	}
}
