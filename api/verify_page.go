package api

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/xiangyang-gov/sharehub/licence"
)

//go:embed templates/verify.html
var verifyHTML string

var verifyTmpl = template.Must(template.New("verify").Parse(verifyHTML))

// verifyCSP allows the page's own inline style and nothing else: the page
// has no script, no images and no links out, and no one may frame it.
const verifyCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// verifyView is what the verify page shows.
type verifyView struct {
	Outcome   licence.Outcome
	Status    licence.Status
	Headline  string
	Class     string
	Why       string
	Licence   *licence.PublicView
	CheckedAt string
	Expires   string
}

var cst = time.FixedZone("CST", 8*3600)

// headlines say each outcome plainly, for a person holding a phone.
var headlines = map[licence.Outcome]string{
	licence.OutcomeExpired:    "二维码已过期",
	licence.OutcomeForged:     "二维码无效",
	licence.OutcomeSuperseded: "二维码已失效",
	licence.OutcomeUnknown:    "查无此证",
}

var whys = map[licence.Outcome]string{
	licence.OutcomeExpired:    "该二维码已超过有效时间，不能用于核验。请持证人重新生成亮证二维码。",
	licence.OutcomeForged:     "该二维码不是本平台签发的，或内容已被篡改。请勿采信。",
	licence.OutcomeSuperseded: "证照信息在二维码生成后已发生变更（如变更、延续），该二维码不再代表证照当前信息。请持证人重新生成亮证二维码。",
	licence.OutcomeUnknown:    "二维码签名有效，但本平台证照库中已无此证照。",
}

// staleNote goes under the headline when a superseded code's licence is
// no longer 有效: the headline is then the licence's status now.
const staleNote = "此二维码生成后，证照已发生变更。以上为证照当前状态，不是二维码生成时的状态。"

// statusHeadlines name a licence's status as the page shows it.
var statusHeadlines = map[licence.Status]string{
	licence.StatusValid: "有效", licence.StatusSuspended: "已暂扣", licence.StatusRevoked: "已撤销",
	licence.StatusCancelled: "已注销", licence.StatusExpired: "已过期", licence.StatusTransfered: "已转出",
	licence.StatusWithdrawn: "已吊销", licence.StatusOther: "其他",
}

func (s *Server) verifyPage(c *gin.Context) {
	res, err := s.licences.CheckQR(c.Request.Context(), c.Param("token"))
	if err != nil {
		fail(c, err)
		return
	}
	if res.Licence != nil {
		// The versioned identifier (the page shows it masked) and the
		// licence's key, by which every other licence route names it, so
		// that an auditor's search by licence finds the page views too.
		noteResource(c, "licence", res.LicenceID())
		noteResource(c, "licence", (&licence.Licence{ID: res.LicenceID()}).Key())
		noteRows(c, 1)
	}
	c.Header("Cache-Control", "no-store")
	c.Header("X-Robots-Tag", "noindex")
	c.Header("X-Content-Type-Options", "nosniff")
	c.Header("Content-Security-Policy", verifyCSP)
	c.Header("X-Frame-Options", "DENY")
	c.Header("Referrer-Policy", "no-referrer") // the URL holds the token
	if strings.Contains(c.GetHeader("Accept"), "application/json") {
		ok(c, http.StatusOK, res)
		return
	}
	v := verifyView{Outcome: res.Outcome, Licence: res.Licence, CheckedAt: time.Now().In(cst).Format("2006-01-02 15:04:05")}
	if !res.ExpiresAt.IsZero() {
		v.Expires = res.ExpiresAt.In(cst).Format("2006-01-02 15:04:05")
	}
	// A superseded code whose licence is no longer 有效 shows that status:
	// a verifier scanning a code shown minutes ago must see that the
	// licence was revoked since, not only that the code is out of date.
	// A superseded code never shows 有效 (nor the licence's data).
	stale := res.Outcome == licence.OutcomeSuperseded && res.Licence != nil && res.Licence.Status != licence.StatusValid
	if !stale && res.Outcome != licence.OutcomeValid {
		v.Licence = nil
	}
	if res.Outcome == licence.OutcomeValid || stale {
		v.Status = res.Licence.Status
		v.Headline = statusHeadlines[v.Status]
		v.Class = "bad"
		switch v.Status {
		case licence.StatusValid:
			v.Class = "ok"
			// 有效 in the registry, but its validity has not begun: a
			// verifier must not read it as in force today.
			if !res.InForce {
				v.Headline, v.Class = "尚未生效", "warn"
				v.Why = "该证照自 " + res.Licence.ValidFrom + " 起生效，今日尚不能作为有效证照使用。"
			}
		case licence.StatusSuspended, licence.StatusExpired:
			v.Class = "warn"
		}
		if stale {
			v.Why = staleNote
		}
	} else {
		v.Headline, v.Why, v.Class = headlines[res.Outcome], whys[res.Outcome], "bad"
		if res.Outcome == licence.OutcomeExpired {
			v.Class = "warn"
		}
	}
	var b bytes.Buffer
	if err := verifyTmpl.Execute(&b, v); err != nil {
		fail(c, err)
		return
	}
	c.Data(http.StatusOK, "text/html; charset=utf-8", b.Bytes())
}
