package blocklist

import (
	"errors"
	"fmt"
	"regexp/syntax"
	"strings"
)

type optKind uint8

const (
	optType optKind = iota + 1
	optParty
	optDomain
	optDenyAllow
	optImportant
	optBadFilter
	optMatchCase
	optAll
	optRedirect
	optRedirectRule
	optRemoveParam
	optInert     // makes the rule inert
	optInertType // a type we do not model (popup, webrtc): inert if it is the only type
)

var optionNames = map[string]optKind{
	"third-party": optParty, "3p": optParty, "first-party": optParty, "1p": optParty,
	"strict1p": optParty, "strict3p": optParty,
	"domain": optDomain, "from": optDomain, "denyallow": optDenyAllow,
	"important": optImportant, "badfilter": optBadFilter, "match-case": optMatchCase, "all": optAll,
	"redirect": optRedirect, "rewrite": optInert, "redirect-rule": optRedirectRule,
	"empty": optRedirect, "mp4": optRedirect,
	"removeparam": optRemoveParam, "queryprune": optRemoveParam,
	"popup": optInertType, "popunder": optInertType, "webrtc": optInertType,
	"csp": optInert, "generichide": optInert, "ghide": optInert, "elemhide": optInert, "ehide": optInert,
	"specifichide": optInert, "shide": optInert, "genericblock": optInert, "inline-script": optInert,
	"inline-font": optInert, "header": optInert, "method": optInert, "permissions": optInert,
	"replace": optInert, "urltransform": optInert, "uritransform": optInert, "urlskip": optInert,
	"cookie": optInert, "stealth": optInert, "jsinject": optInert, "content": optInert,
	"extension": optInert, "to": optInert, "ipaddress": optInert, "cname": optInert,
	"network": optInert, "app": optInert, "hls": optInert, "jsonprune": optInert, "referrerpolicy": optInert,
	"urlblock": optInert, "sitekey": optInert, "xmlprune": optInert, "reason": optInert,
	"document": optType, "doc": optType, "script": optType, "image": optType, "stylesheet": optType,
	"css": optType, "object": optType, "object-subrequest": optType, "subdocument": optType,
	"frame": optType, "xmlhttprequest": optType, "xhr": optType, "ping": optType, "beacon": optType,
	"media": optType, "font": optType, "other": optType, "websocket": optType,
}

// splitOptions splits an option string on commas, keeping commas inside a
// /regex/ value and honouring "\," escapes.
func splitOptions(s string) []string {
	var out []string
	start := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '=':
			if i+1 < len(s) && s[i+1] == '/' {
				for j := i + 2; j < len(s); j++ {
					if s[j] == '\\' {
						j++
						continue
					}
					if s[j] == '/' {
						i = j
						break
					}
				}
			}
		case ',':
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

func (r *Rule) parseOptions(s string) error {
	var sawPositiveType bool
	var inertType string
	for _, opt := range splitOptions(s) {
		opt = strings.TrimSpace(opt)
		name, value, hasValue := strings.Cut(opt, "=")
		neg := strings.HasPrefix(name, "~")
		name = strings.ToLower(strings.TrimPrefix(name, "~"))
		kind, ok := optionNames[name]
		if !ok {
			if opt == "" {
				return errors.New("empty option")
			}
			return fmt.Errorf("unknown option %q", opt)
		}
		if err := r.checkOption(kind, name, neg, hasValue, value); err != nil {
			return err
		}
		switch kind {
		case optType:
			t := optionType(name)
			if neg {
				r.NotTypes |= t
			} else {
				r.Types |= t
				sawPositiveType = true
			}
		case optInertType:
			if !neg && inertType == "" {
				inertType = name
			}
		case optAll:
			r.Types |= typesAll
			sawPositiveType = true
		default:
			if err := r.applyOption(kind, name, value, opt, neg); err != nil {
				return err
			}
		}
	}
	if inertType != "" && !sawPositiveType {
		r.Inert = append(r.Inert, inertType)
	}
	return nil
}

// checkOption reports whether option name (of kind, negated or not, with
// or without a value) is allowed its negation and value.
func (r *Rule) checkOption(kind optKind, name string, neg, hasValue bool, value string) error {
	if neg && kind != optType && kind != optParty && kind != optInertType && kind != optMatchCase {
		return fmt.Errorf("option %q cannot be negated", name)
	}
	takesValue := kind == optDomain || kind == optDenyAllow || kind == optRedirectRule ||
		kind == optRemoveParam || kind == optInert || (kind == optRedirect && name == "redirect")
	// @@…$redirect-rule with no resource turns every redirect off.
	needsValue := takesValue && kind != optRemoveParam && kind != optInert &&
		!(kind == optRedirectRule && r.Exception)
	if needsValue && (!hasValue || value == "") {
		return fmt.Errorf("option %q needs a value", name)
	}
	if hasValue && !takesValue {
		return fmt.Errorf("option %q takes no value", name)
	}
	return nil
}

// applyOption sets what an option other than a type sets on r; opt is the
// option as written.
func (r *Rule) applyOption(kind optKind, name, value, opt string, neg bool) error {
	switch kind {
	case optParty:
		r.Party = optionParty(name, neg)
	case optDomain:
		inc, exc, err := parseDomainList(value, '|')
		if err != nil {
			return fmt.Errorf("option domain: %w", err)
		}
		r.Domains, r.NotDomains = append(r.Domains, inc...), append(r.NotDomains, exc...)
	case optDenyAllow:
		inc, exc, err := parseDomainList(value, '|')
		if err != nil || len(exc) > 0 {
			return fmt.Errorf("option denyallow: bad value %q", value)
		}
		r.DenyAllow = append(r.DenyAllow, inc...)
	case optImportant:
		r.Important = true
	case optBadFilter:
		r.BadFilter = true
	case optMatchCase:
		r.MatchCase = !neg
	case optRedirect, optRedirectRule:
		if name == "empty" || name == "mp4" {
			value = name
		}
		if value == "" && r.Exception {
			value = "none"
		}
		if _, ok := redirectResponse(value); !ok {
			return fmt.Errorf("unknown redirect resource %q", value)
		}
		r.Redirect, r.RedirectRule = value, kind == optRedirectRule
	case optRemoveParam:
		if err := checkParam(value); err != nil {
			return fmt.Errorf("option removeparam: %w", err)
		}
		r.RemoveParam, r.Param = true, value
	case optInert:
		r.Inert = append(r.Inert, opt)
	}
	return nil
}

func optionType(name string) Type {
	switch name {
	case "doc":
		return TypeDocument
	case "css":
		return TypeStylesheet
	case "frame":
		return TypeSubdocument
	case "xhr":
		return TypeXMLHTTPRequest
	case "beacon":
		return TypePing
	case "object-subrequest":
		return TypeObject
	}
	t, _ := ParseType(name)
	return t
}

func optionParty(name string, neg bool) Party {
	third := name == "third-party" || name == "3p" || name == "strict3p"
	if neg {
		third = !third
	}
	strict := strings.HasPrefix(name, "strict")
	switch {
	case strict && third:
		return PartyStrictThird
	case strict:
		return PartyStrictFirst
	case third:
		return PartyThird
	}
	return PartyFirst
}

// parseDomainList parses "a.com|~b.a.com|google.*".
func parseDomainList(s string, sep byte) (inc, exc []string, err error) {
	for len(s) > 0 {
		d := s
		if i := strings.IndexByte(s, sep); i >= 0 {
			d, s = s[:i], s[i+1:]
		} else {
			s = ""
		}
		neg := strings.HasPrefix(d, "~")
		d = strings.TrimPrefix(d, "~")
		if d == "" || strings.ContainsAny(d, "/ ,$\\") || (strings.Contains(d, "*") && !strings.HasSuffix(d, ".*")) {
			return nil, nil, fmt.Errorf("bad domain %q", d)
		}
		d = lowerHost(d)
		if neg {
			exc = append(exc, d)
		} else {
			inc = append(inc, d)
		}
	}
	return inc, exc, nil
}

func checkParam(v string) error {
	v = strings.TrimPrefix(v, "~")
	if len(v) >= 2 && v[0] == '/' {
		re, _, err := paramRegexp(v)
		if err != nil {
			return err
		}
		_, err = syntax.Parse(re, syntax.Perl)
		return err
	}
	return nil
}

// paramRegexp splits "/re/flags" into the expression and whether it is
// case-insensitive.
func paramRegexp(v string) (re string, fold bool, err error) {
	end := strings.LastIndexByte(v, '/')
	if end <= 0 {
		return "", false, fmt.Errorf("unterminated regex %q", v)
	}
	flags := v[end+1:]
	if flags != "" && flags != "i" {
		return "", false, fmt.Errorf("unsupported regex flags %q", flags)
	}
	return v[1:end], flags == "i", nil
}
