module github.com/pixelwall/pixelwall

go 1.26.8

require (
	github.com/elazarl/goproxy v1.9.2
	github.com/miekg/dns v1.1.73
	golang.org/x/net v0.62.0
	gopkg.in/yaml.v3 v3.0.1
)

require (
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
)
