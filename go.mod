module github.com/pixelwall/pixelwall

go 1.26.8

require (
	golang.org/x/net v0.62.0
	gopkg.in/yaml.v3 v3.0.1
)
