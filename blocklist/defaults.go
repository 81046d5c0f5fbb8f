package blocklist

import _ "embed"

//go:embed default.txt
var defaultList string

//go:embed params.txt
var paramsList string

// Names of the embedded lists.
const (
	DefaultListName = "pixelwall-default"
	ParamsListName  = "pixelwall-params"
)

// Defaults returns the lists built into the binary: our tracking-pixel list
// and our tracking-parameter list. They work offline and serve until
// downloaded lists arrive.
func Defaults() []Source {
	return []Source{
		{Name: DefaultListName, Format: FormatAdblock, Text: defaultList},
		{Name: ParamsListName, Format: FormatAdblock, Text: paramsList},
	}
}
