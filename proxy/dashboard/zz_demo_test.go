package dashboard

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

func TestZZDemo(t *testing.T) {
	if os.Getenv("DEMO") == "" {
		t.Skip()
	}
	l := newLog(t)
	now := time.Now()
	hosts := []struct{ host, rule, list, typ string }{
		{"www.google-analytics.com", "||google-analytics.com^", "easyprivacy", "script"},
		{"connect.facebook.net", "||connect.facebook.net^", "easyprivacy", "script"},
		{"pixel.quantserve.com", "||quantserve.com^", "easyprivacy", "image"},
		{"securepubads.g.doubleclick.net", "||doubleclick.net^", "easylist", "script"},
		{"bat.bing.com", "||bat.bing.com^", "easyprivacy", "script"},
		{"cdn.segment.com", "||segment.com^$third-party", "easyprivacy", "xhr"},
		{"sb.scorecardresearch.com", "||scorecardresearch.com^", "easyprivacy", "image"},
		{"t.co", "||t.co^$image", "peter-lowe", "image"},
	}
	clients := []string{"192.168.1.10", "192.168.1.23", "192.168.1.42", "fd00::7"}
	sites := []string{"news.example", "shop.example", "www.recipes.test", "blog.example.org"}
	r := rand.New(rand.NewPCG(1, 2))
	var es []blocklog.Entry
	for i := range 6000 {
		ago := time.Duration(r.Float64() * float64(24*time.Hour))
		at := now.Add(-ago)
		h := float64(at.Hour()) + float64(at.Minute())/60
		if r.Float64() > 0.25+0.75*math.Pow(math.Sin(math.Pi*(h-6)/18), 2) || (h < 6 && r.Float64() < .7) {
			continue
		}
		c := clients[r.IntN(len(clients))]
		site := sites[r.IntN(len(sites))]
		switch x := r.IntN(100); {
		case x < 62:
			es = append(es, blocklog.Entry{Time: at, Layer: "http", Kind: "passed", Client: c, Method: "GET", Host: site, URL: "https://" + site + fmt.Sprintf("/static/app.%d.js", i%9), Type: "script", Source: site})
		case x < 85:
			tr := hosts[r.IntN(len(hosts))%(1+r.IntN(len(hosts)))]
			es = append(es, blocklog.Entry{Time: at, Layer: "http", Kind: "blocked", Client: c, Method: "GET", Host: tr.host, URL: "https://" + tr.host + "/collect?v=1&tid=UA-1&cid=" + fmt.Sprint(i), Type: tr.typ, Source: site, Rule: tr.rule, List: tr.list})
		case x < 90:
			es = append(es, blocklog.Entry{Time: at, Layer: "http", Kind: "heuristic", Client: c, Method: "POST", Host: "events.tracking-" + fmt.Sprint(i%3) + ".test", URL: "https://events.tracking.test/v2/beacon", Type: "ping", Source: site, Rule: "heuristic:beacon"})
		case x < 95:
			es = append(es, blocklog.Entry{Time: at, Layer: "http", Kind: "params-stripped", Client: c, Method: "GET", Host: site, URL: "https://" + site + "/article?id=1&utm_source=x", Type: "document", Removed: []string{"utm_source", "fbclid"}})
		default:
			es = append(es, blocklog.Entry{Time: at, Layer: "dns", Kind: "blocked", Client: c, Host: "telemetry.device.test", Type: "A", Rule: "telemetry.device.test", List: "hosts"})
		}
	}
	es = append(es, blocklog.Entry{Layer: "http", Kind: "blocked", Client: "192.168.1.66", Host: "evil.test", URL: `https://evil.test/<script>alert(1)</script>`, Source: "news.example", Rule: "||evil.test^", List: "custom", Type: "script"})
	add(t, l, es...)
	s, err := New(Options{Log: l, Loopback: true, Allow: func(AllowAction) error { return nil }, Metrics: http.NotFoundHandler(),
		Lists: func() []ListStatus {
			return []ListStatus{
				{Name: "easyprivacy", Source: "https://easylist.to/easylist/easyprivacy.txt", Format: "adblock", Rules: 51234, BadLines: 2, FirstBad: []string{"##bad selector", "[Adblock Plus 2.0]"}, Updated: now.Add(-3 * time.Hour), Checked: now.Add(-10 * time.Minute)},
				{Name: "easylist", Source: "https://easylist.to/easylist/easylist.txt", Format: "adblock", Rules: 71002, Updated: now.Add(-5 * time.Hour), Checked: now.Add(-10 * time.Minute)},
				{Name: "hosts", Source: "/etc/pixelwall/hosts.txt", Format: "hosts", Rules: 80, LastError: "open /etc/pixelwall/hosts.txt: no such file or directory", Checked: now.Add(-time.Minute)},
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:18555")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: s}
	go srv.Serve(ln)
	time.Sleep(60 * time.Second)
	srv.Close()
}
