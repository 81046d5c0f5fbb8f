package dashboard

import (
	"github.com/pixelwall/pixelwall/proxy/blocklog"

	"embed"
	"fmt"
	"html/template"
	"io"
)

//go:embed templates/*.html
var templateFS embed.FS

// pageNames are the pages; each is templates/NAME.html, which defines
// "content", rendered within templates/layout.html.
var pageNames = []string{"overview", "log", "lists", "login", "clients"}

// pages are the parsed page templates.
type pages struct {
	byName map[string]*template.Template
}

// funcs are the templates' helpers.
var funcs = template.FuncMap{
	"num": func(v any) string {
		switch n := v.(type) {
		case int:
			return num(int64(n))
		case int64:
			return num(n)
		case uint64:
			return num(int64(n))
		}
		return fmt.Sprint(v)
	},
	"kindClass": kindClass,
	"topBox": func(title, column string, rows []topRow, empty, since string) topBox {
		return topBox{Title: title, Column: column, Rows: rows, Empty: empty, Since: since}
	},
}

// topBox is one of the overview's top lists.
type topBox struct {
	Title, Column, Empty string
	Since                string // "last 24 h"
	Rows                 []topRow
}

// kindClass is the badge class of an entry kind.
func kindClass(kind blocklog.Kind) string {
	switch kind {
	case "blocked", "connect-refused":
		return "k-block"
	case "heuristic", "learned":
		return "k-heur"
	case "params-stripped", "referer", "unwrapped":
		return "k-mod"
	case "passed":
		return "k-pass"
	}
	return "k-other"
}

// parsePages parses the layout with each page.
func parsePages() (*pages, error) {
	layout, err := template.New("layout").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", "templates/parts.html")
	if err != nil {
		return nil, fmt.Errorf("dashboard: parsing the layout: %w", err)
	}
	p := &pages{byName: make(map[string]*template.Template)}
	for _, name := range pageNames {
		t, err := layout.Clone()
		if err != nil {
			return nil, fmt.Errorf("dashboard: cloning the layout: %w", err)
		}
		if _, err := t.ParseFS(templateFS, "templates/"+name+".html"); err != nil {
			return nil, fmt.Errorf("dashboard: parsing page %s: %w", name, err)
		}
		p.byName[name] = t
	}
	return p, nil
}

// execute renders page with data.
func (p *pages) execute(w io.Writer, page string, data any) error {
	t, ok := p.byName[page]
	if !ok {
		return fmt.Errorf("no page %q", page)
	}
	return t.ExecuteTemplate(w, "layout", data)
}
