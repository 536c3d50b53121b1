package webmail

import (
	"embed"
	"html/template"
	"io/fs"
	"net/http"
	"net/mail"
	"strings"
	"time"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticRoot embed.FS

var staticFS, _ = fs.Sub(staticRoot, "static")

var funcs = template.FuncMap{
	"size": humanSize,
	"date": func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		if time.Since(t) < 20*time.Hour && time.Since(t) > -time.Hour {
			return t.Local().Format("15:04")
		}
		return t.Local().Format("2 Jan 2006")
	},
	"join":  strings.Join,
	"addr":  showAddress,
	"int64": func(n int) int64 { return int64(n) },
}

// pages maps a page name to the layout plus that page.
var pages = func() map[string]*template.Template {
	base := template.Must(template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html"))
	out := map[string]*template.Template{}
	for _, p := range []string{"login", "list", "read", "compose", "folders"} {
		out[p] = template.Must(template.Must(base.Clone()).ParseFS(templateFS, "templates/"+p+".html"))
	}
	return out
}()

func humanSize(n int64) string {
	switch {
	case n >= 1<<20:
		return formatFloat(float64(n)/(1<<20)) + " MB"
	case n >= 1<<10:
		return formatFloat(float64(n)/(1<<10)) + " KB"
	}
	return itoa(n) + " B"
}

// page is what every template gets.
type page struct {
	Title   string
	CSRF    string
	User    string
	Folders []folderInfo
	Folder  string
	Error   string
	Notice  string
	Data    any
}

func (s *Server) render(w http.ResponseWriter, status int, name string, p page) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if err := pages[name].ExecuteTemplate(w, "layout.html", p); err != nil {
		s.log.Warn("webmail template", "page", name, "err", err)
	}
}

// showAddress is "Name <addr>" without the quoting net/mail adds.
func showAddress(a *mail.Address) string {
	if a.Name == "" {
		return a.Address
	}
	return a.Name + " <" + a.Address + ">"
}
