package proxy

import (
	"bufio"
	"io"
	"mime"
	"net"
	"net/http"
	"sync"

	"github.com/elazarl/goproxy"
)

// streamWriter is the ResponseWriter goproxy writes a proxied response to.
// When onResponse marks the response a stream (its length unknown: chunked
// or read until close, or an event stream), the status line and headers
// are sent at once and each piece of the body as soon as it is read, so a
// client sees a slow response progress and a stalled one's headers.
// Responses of known length go through the server's buffer, as
// net/http/httputil.ReverseProxy sends them.
type streamWriter struct {
	http.ResponseWriter
	stream bool
}

// isStream says whether resp is sent as it arrives.
func isStream(resp *http.Response) bool {
	if resp.StatusCode < 200 {
		return false // 101: the connection is taken over, not flushed
	}
	if resp.ContentLength < 0 {
		return true
	}
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	return mt == "text/event-stream"
}

func (w *streamWriter) WriteHeader(code int) {
	w.ResponseWriter.WriteHeader(code)
	if w.stream && code >= 200 {
		w.Flush()
	}
}

func (w *streamWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	if w.stream && err == nil {
		w.Flush()
	}
	return n, err
}

func (w *streamWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// ReadFrom is what io.Copy uses: the server's own ReadFrom (no buffer of
// ours) for responses of known length; a pooled buffer, each read flushed,
// for streams.
func (w *streamWriter) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok && !w.stream {
		return rf.ReadFrom(r)
	}
	buf := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(buf)
	return io.CopyBuffer(struct{ io.Writer }{w}, r, *buf) // the struct hides ReadFrom
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// Hijack serves WebSocket upgrades, which goproxy takes over.
func (w *streamWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

func (w *streamWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// sendResponse runs after every other response handler: it answers a
// request whose dial the destinations policy refused with 403, one whose
// upstream failed with an error page (upstreamFailure), and marks the
// response a stream or not.
func (s *Server) sendResponse(resp *http.Response, ctx *goproxy.ProxyCtx) *http.Response {
	if resp == nil {
		if r := s.destinationResponse(ctx.Req, ctx.Error); r != nil {
			return r
		}
		return s.upstreamFailure(ctx.Req, ctx.Error)
	}
	if info := s.requestInfo(ctx.Req); info.sw.ResponseWriter != nil {
		info.sw.stream = isStream(resp)
	}
	return resp
}
