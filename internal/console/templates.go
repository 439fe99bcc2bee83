package console

import (
	"fmt"
	"html/template"
	"time"
)

// pageNames are the page templates; each is parsed with layout.html.
var pageNames = []string{"feed", "partners", "dataflow", "posture", "auditlog", "alerts", "killswitch", "confirm"}

var templateFuncs = template.FuncMap{
	"nav":   func() any { return navItems },
	"time":  func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"clock": func(t time.Time) string { return t.UTC().Format("15:04:05") },
	"short": func(id string) string {
		if len(id) > 12 {
			return id[:12]
		}
		return id
	},
	"count": func(v float64) string {
		if v == float64(int64(v)) {
			return fmt.Sprintf("%d", int64(v))
		}
		return fmt.Sprintf("%.1f", v)
	},
	"coord": func(v float64) string { return fmt.Sprintf("%.1f", v) },
}

// parsePages parses every page with the layout, once, at start-up.
func parsePages() (map[string]*template.Template, error) {
	pages := map[string]*template.Template{}
	for _, name := range pageNames {
		t, err := template.New(name).Funcs(templateFuncs).ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: template %s: %w", name, err)
		}
		pages[name] = t
	}
	return pages, nil
}
