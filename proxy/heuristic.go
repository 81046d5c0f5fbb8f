package proxy

import (
	"bufio"
	"encoding/binary"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/elazarl/goproxy"

	"github.com/pixelwall/pixelwall/blocklist"
)

const (
	// pixelPeek is how much of an image response is read to find its size;
	// the rest streams through untouched.
	pixelPeek = 512
	// pixelMaxLength: an image response declared larger than this is not a
	// pixel and is not read at all.
	pixelMaxLength = 4096
	// tinyBody is the size under which an image with an identifier in its
	// URL is a beacon whatever its dimensions.
	tinyBody = 128
)

// onResponse catches tracking images no list knows: an image of at most
// 2×2 pixels, or a tiny image whose URL carries an identifier, loaded from
// another site or by a mail client, is replaced by our own empty GIF.
func (s *Server) onResponse(resp *http.Response, ctx *goproxy.ProxyCtx) *http.Response {
	st, _ := ctx.UserData.(*reqState)
	if resp == nil || st == nil || st.answered || st.settings.noHeuristic {
		return resp
	}
	if resp.StatusCode != http.StatusOK || resp.ContentLength > pixelMaxLength || ctx.Req.Method != http.MethodGet {
		return resp
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		return resp
	}
	ct := strings.ToLower(resp.Header.Get("Content-Type"))
	if !strings.HasPrefix(ct, "image/") && !(st.typ == blocklist.TypeImage && (ct == "" || strings.HasPrefix(ct, "application/octet-stream"))) {
		return resp
	}
	if isFavicon(ctx.Req.URL) {
		return resp
	}
	// Only from another site, or in a mail client (asked only now: images
	// are a small share of requests).
	mail := isMailClient(ctx.Req.Header)
	if !st.third && !mail {
		return resp
	}
	br := bufio.NewReaderSize(resp.Body, pixelPeek)
	head, err := br.Peek(pixelPeek)
	complete := err != nil // EOF (or an error) before pixelPeek bytes: head is the whole body
	reason := ""
	if w, h, ok := imageSize(head); ok && w <= 2 && h <= 2 {
		reason = "image is " + strconv.Itoa(w) + "×" + strconv.Itoa(h)
	} else if complete && len(head) <= tinyBody && urlHasIdentifier(ctx.Req.URL) {
		reason = "image is " + strconv.Itoa(len(head)) + " bytes and its URL carries an identifier"
	}
	if reason == "" {
		resp.Body = struct {
			io.Reader
			io.Closer
		}{br, resp.Body}
		return resp
	}
	resp.Body.Close()
	who := "from another site"
	if mail {
		who = "in a mail client"
	}
	ev := Event{Kind: KindHeuristic, Client: clientIP(ctx.Req.RemoteAddr).String(), Method: ctx.Req.Method,
		Host: strings.ToLower(ctx.Req.URL.Hostname()), URL: ctx.Req.URL.String(), Type: st.typ.String(), Source: st.source,
		Response: blocklist.ResponseGIF.String(), Detail: reason + ", loaded " + who, Bytes: int64(len(head))}
	rule := s.learn(ctx, st, ev)
	if rule != "" {
		ev.Detail += "; learned rule " + rule
	}
	s.emit(ev)
	if rule != "" {
		s.emitLearned(ev, rule)
	}
	out := newResponse(ctx.Req, http.StatusOK, "image/gif", transparentGIF)
	out.Header.Set("Cache-Control", "no-store")
	out.Header.Set("X-Pixelwall", "tracking pixel (heuristic)")
	return out
}

func isFavicon(u *url.URL) bool {
	p := strings.ToLower(u.Path)
	return strings.Contains(p, "favicon") || strings.HasSuffix(p, ".ico") || strings.Contains(p, "apple-touch-icon")
}

// imageSize reads the dimensions from the first bytes of a GIF, PNG, JPEG
// or WebP image.
func imageSize(b []byte) (w, h int, ok bool) {
	switch {
	case len(b) >= 10 && (string(b[:6]) == "GIF87a" || string(b[:6]) == "GIF89a"):
		return int(binary.LittleEndian.Uint16(b[6:])), int(binary.LittleEndian.Uint16(b[8:])), true
	case len(b) >= 24 && string(b[:8]) == "\x89PNG\r\n\x1a\n" && string(b[12:16]) == "IHDR":
		return int(binary.BigEndian.Uint32(b[16:])), int(binary.BigEndian.Uint32(b[20:])), true
	case len(b) >= 30 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		switch string(b[12:16]) {
		case "VP8 ": // lossy: 14-bit sizes after the key frame start code
			return int(binary.LittleEndian.Uint16(b[26:]) & 0x3fff), int(binary.LittleEndian.Uint16(b[28:]) & 0x3fff), true
		case "VP8L": // lossless: 14-bit width-1 and height-1 packed after the signature byte
			v := binary.LittleEndian.Uint32(b[21:])
			return int(v&0x3fff) + 1, int(v>>14&0x3fff) + 1, true
		case "VP8X": // extended: 24-bit canvas width-1 and height-1
			return int(uint32(b[24])|uint32(b[25])<<8|uint32(b[26])<<16) + 1, int(uint32(b[27])|uint32(b[28])<<8|uint32(b[29])<<16) + 1, true
		}
	case len(b) >= 4 && b[0] == 0xff && b[1] == 0xd8:
		return jpegSize(b)
	}
	return 0, 0, false
}

// jpegSize walks the JPEG markers to the first start-of-frame.
func jpegSize(b []byte) (w, h int, ok bool) {
	for i := 2; i+9 < len(b); {
		if b[i] != 0xff {
			return 0, 0, false
		}
		marker := b[i+1]
		if marker == 0xff { // fill byte
			i++
			continue
		}
		if marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc {
			return int(binary.BigEndian.Uint16(b[i+7:])), int(binary.BigEndian.Uint16(b[i+5:])), true
		}
		if marker == 0xd8 || marker >= 0xd0 && marker <= 0xd7 || marker == 0x01 {
			i += 2
			continue
		}
		i += 2 + int(binary.BigEndian.Uint16(b[i+2:]))
	}
	return 0, 0, false
}

// urlHasIdentifier reports whether a URL carries something that identifies
// a reader or a message: a long mixed token, a long hex or base64 run, or an
// e-mail address, in the path or the query values.
func urlHasIdentifier(u *url.URL) bool {
	for _, seg := range strings.Split(u.Path, "/") {
		if looksLikeID(seg) {
			return true
		}
	}
	for _, vs := range u.Query() {
		for _, v := range vs {
			if looksLikeID(v) {
				return true
			}
		}
	}
	return false
}

func looksLikeID(s string) bool {
	if strings.Contains(s, "@") {
		return true
	}
	if i := strings.LastIndexByte(s, '.'); i > 0 && len(s)-i <= 5 {
		s = s[:i] // drop an extension
	}
	if len(s) < 8 {
		return false
	}
	var letters, digits, other int
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digits++
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
			letters++
		case c == '-' || c == '_' || c == '=' || c == '+' || c == '%':
			other++
		default:
			return false
		}
	}
	return letters > 0 && digits > 0 && letters+digits >= 8 || digits >= 10
}
