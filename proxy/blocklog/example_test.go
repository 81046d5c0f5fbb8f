package blocklog_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/pixelwall/pixelwall/proxy/blocklog"
)

func Example() {
	dir, err := os.MkdirTemp("", "blocklog-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	l, err := blocklog.Open(blocklog.Options{Path: filepath.Join(dir, "blocks.db"), AnonymizeClients: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()

	// What cmd does with the proxy's and the resolver's events.
	l.Add(blocklog.Entry{Layer: blocklog.LayerHTTP, Kind: "blocked", Client: "192.168.1.77",
		Host: "px.tracker.test", URL: "https://px.tracker.test/collect?uid=42&email=a%40b.c",
		Type: "image", Rule: "||tracker.test^", List: "easyprivacy"})
	l.Add(blocklog.Entry{Layer: blocklog.LayerDNS, Kind: "blocked", Client: "192.168.1.78",
		Host: "tracker.test", Type: "A", Rule: "||tracker.test^", List: "easyprivacy"})
	l.Count(blocklog.LayerHTTP, false) // an allowed request, not stored
	if err := l.Flush(); err != nil {
		fmt.Println(err)
		return
	}

	ctx := context.Background()
	entries, err := l.Query(ctx, blocklog.Filter{Host: "tracker.test", Layer: blocklog.LayerHTTP})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range entries {
		fmt.Println(e.Client, e.Kind, e.URL)
	}
	top, err := l.Top(ctx, "clients", blocklog.Filter{Since: time.Now().Add(-24 * time.Hour)}, 5)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(top)
	// Output:
	// 192.168.1.0 blocked https://px.tracker.test/collect?uid=…&email=…
	// [{192.168.1.0 2}]
}
