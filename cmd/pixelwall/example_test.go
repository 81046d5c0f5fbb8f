package main

import (
	"os"
	"path/filepath"
	"testing"
)

// TestConfigExampleParses keeps config.example.yaml valid: every key in it
// must be one the config knows.
func TestConfigExampleParses(t *testing.T) {
	path := filepath.Join("..", "..", "config.example.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := parseConfig(path, b)
	if err != nil {
		t.Fatalf("config.example.yaml: %v", err)
	}
	if cfg.HTTP.Listen != "0.0.0.0:8080" || len(cfg.Lists) != 2 || cfg.HTTP.Referer != "origin" ||
		len(cfg.DNS.DomainUpstreams["168.192.in-addr.arpa"]) != 1 || cfg.DNS.LocalNames != "auto" ||
		len(cfg.HTTP.ConnectPorts) != 6 || len(cfg.Groups) != 3 || len(cfg.Clients) != 3 || cfg.Groups["kids"].BlockMode != "nxdomain" {
		t.Errorf("example parsed to %+v", cfg)
	}
}
