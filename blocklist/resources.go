package blocklist

import "embed"

// resources holds the bodies of our stand-in scripts, written for pixelwall
// from the vendors' public API documentation.
//
//go:embed resources/*.js
var resources embed.FS

var (
	noopScript      = resource("noop.js")
	googleScript    = resource("analytics.js", "googletagmanager.js")
	metaPixelScript = resource("fbevents.js")
	uetScript       = resource("bat.js")
	segmentScript   = resource("segment.js")
	plausibleScript = resource("plausible.js")
	fathomScript    = resource("fathom.js")
	gaLegacyScript  = resource("ga.js")
)

// resource reads and joins embedded scripts; each is a self-contained
// statement, so joined they run one after the other.
func resource(names ...string) []byte {
	var b []byte
	for _, n := range names {
		data, err := resources.ReadFile("resources/" + n)
		if err != nil {
			panic("blocklist: embedded resource missing: " + n) // a build error, not a runtime one
		}
		b = append(b, data...)
	}
	return b
}

// Script returns the body of a script response: the stand-in for a
// surrogate, the generic no-op script for ResponseEmptyJS, and ok=false for
// responses that are not scripts. The caller must not modify it.
//
// The Google stand-ins share one body: lists name them interchangeably
// (uBlock Origin serves one file for analytics.js and gtm.js, AdGuard's
// "google-analytics" mocks both), and gtag.js and gtm.js speak the same
// dataLayer protocol.
func (r Response) Script() (body []byte, ok bool) {
	switch r {
	case ResponseEmptyJS:
		return noopScript, true
	case ResponseGoogleAnalytics, ResponseGoogleTag, ResponseTagManager:
		return googleScript, true
	case ResponseMetaPixel:
		return metaPixelScript, true
	case ResponseMicrosoftUET:
		return uetScript, true
	case ResponseSegment:
		return segmentScript, true
	case ResponsePlausible:
		return plausibleScript, true
	case ResponseFathom:
		return fathomScript, true
	case ResponseGoogleAnalyticsLegacy:
		return gaLegacyScript, true
	}
	return nil, false
}
