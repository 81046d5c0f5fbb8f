package main

import (
	"fmt"
	"io"

	"github.com/pixelwall/pixelwall/certs"
)

// cmdCA is `pixelwall ca path|export|regenerate`.
func cmdCA(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ca", stdout)
	var common commonFlags
	common.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{fmt.Errorf("want one of: path, export, regenerate")}
	}
	cfg, err := loadConfigOrDefault(common.config)
	if err != nil {
		return err
	}
	opts := certs.Options{Dir: caDir(dataDir(common.data, cfg))}
	switch pos[0] {
	case "path":
		ca, _, err := certs.LoadOrCreate(opts)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, ca.CertPath())
	case "export":
		ca, _, err := certs.LoadOrCreate(opts)
		if err != nil {
			return err
		}
		stdout.Write(ca.CertPEM())
	case "regenerate":
		ca, err := certs.Regenerate(opts)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "new CA at %s\nSHA-256 %s\nInstall it on every device again; the old one is kept as %s.old and can be removed from trust stores.\n",
			ca.CertPath(), ca.Fingerprint(), ca.CertPath())
	default:
		return usageError{fmt.Errorf("unknown ca command %q: want path, export or regenerate", pos[0])}
	}
	return nil
}
