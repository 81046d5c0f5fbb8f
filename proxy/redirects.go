package proxy

import (
	"net/url"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// redirector is a link-tracking redirect endpoint that carries its target
// in a query parameter.
type redirector struct {
	host   string   // the host or a parent domain; "google.*" is google under any public suffix
	path   string   // path prefix
	params []string // parameters holding the target, in order of preference
}

// redirectors are the link trackers unwrapped for navigations: the user
// goes straight to where the link points, and the tracker never hears of
// it. Mail security scanners (Outlook Safe Links, Proofpoint) are left
// alone on purpose.
var redirectors = []redirector{
	{"google.*", "/url", []string{"q", "url"}},
	{"google.*", "/imgres", []string{"imgrefurl"}},
	{"facebook.com", "/l.php", []string{"u"}},
	{"messenger.com", "/l.php", []string{"u"}},
	{"l.instagram.com", "/", []string{"u"}},
	{"youtube.com", "/redirect", []string{"q"}},
	{"out.reddit.com", "/", []string{"url"}},
	{"slack-redir.net", "/link", []string{"url"}},
	{"steamcommunity.com", "/linkfilter/", []string{"url", "u"}},
	{"disq.us", "/url", []string{"url"}},
	{"linkedin.com", "/redir/redirect", []string{"url"}},
	{"vk.com", "/away.php", []string{"to"}},
	{"t.umblr.com", "/redirect", []string{"z"}},
	{"duckduckgo.com", "/l/", []string{"uddg"}},
	{"exit.sc", "/", []string{"url"}},
	{"click.linksynergy.com", "/deeplink", []string{"murl"}},
	{"go.skimresources.com", "/", []string{"url"}},
	{"tradedoubler.com", "/click", []string{"url"}},
}

// unwrapRedirect returns the target of a known redirect tracker URL.
func unwrapRedirect(u *url.URL) (string, bool) {
	host := strings.ToLower(u.Hostname())
	for _, rd := range redirectors {
		if !redirectorHost(host, rd.host) || !strings.HasPrefix(u.Path, rd.path) {
			continue
		}
		q := u.Query()
		for _, p := range rd.params {
			t := q.Get(p)
			tu, err := url.Parse(t)
			if err != nil || (tu.Scheme != "http" && tu.Scheme != "https") || tu.Host == "" || strings.EqualFold(tu.Hostname(), host) {
				continue
			}
			return tu.String(), true
		}
	}
	return "", false
}

func redirectorHost(host, pattern string) bool {
	if base, ok := strings.CutSuffix(pattern, ".*"); ok {
		// google.*: www.google.com, google.co.uk, …: the name registered
		// directly under a public suffix of the ICANN section or an
		// unlisted top-level domain, not under a hosting suffix such as
		// herokuapp.com (where anyone registers) nor under another domain.
		suffix, icann := publicsuffix.PublicSuffix(host)
		d, err := publicsuffix.EffectiveTLDPlusOne(host)
		return (icann || !strings.Contains(suffix, ".")) && err == nil && d == base+"."+suffix
	}
	return host == pattern || strings.HasSuffix(host, "."+pattern)
}
