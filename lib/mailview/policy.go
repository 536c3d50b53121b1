package mailview

import (
	"regexp"

	"github.com/microcosm-cc/bluemonday"
)

// The policy keeps what mail formatting needs — text markup, lists, tables,
// images, links and presentational attributes — and nothing that runs, loads
// or submits: no script, style element, event handler, form, frame, object,
// embed, SVG/MathML, meta, link or base. URLs must be absolute http, https,
// mailto or tel (cid for our own parts, rewritten afterwards); relative URLs
// are dropped by the rewrite pass since they would point at the webmail
// itself (a protocol-relative image is a remote https image). Inline styles
// are checked property by property; properties that position content
// outside its box (position, z-index, transform …) or load resources other
// than a background are not allowed, and url() in a background is handled
// by the rewrite pass.
var policy = newPolicy()

var (
	lengthAttr = regexp.MustCompile(`^\s*[0-9]{1,5}(\.[0-9]+)?\s*(%|px)?\s*$`)
	colorAttr  = regexp.MustCompile(`^\s*(#[0-9a-fA-F]{3,8}|[a-zA-Z]{1,30}|rgba?\([0-9., %]{1,40}\))\s*$`)
	alignAttr  = regexp.MustCompile(`(?i)^\s*(left|right|center|justify|top|middle|bottom|baseline|absmiddle|texttop)\s*$`)
	numberAttr = regexp.MustCompile(`^\s*[0-9]{1,4}\s*$`)
	textAttr   = regexp.MustCompile(`^[^<>]{0,200}$`)
	httpURL    = regexp.MustCompile(`(?i)^\s*https?://[^\s"'<>()]+\s*$`)
	dirAttr    = regexp.MustCompile(`(?i)^(ltr|rtl|auto)$`)
	listType   = regexp.MustCompile(`^(1|a|A|i|I|disc|circle|square)$`)
	faceAttr   = regexp.MustCompile(`^[a-zA-Z0-9 ,'"_-]{1,200}$`)
)

func newPolicy() *bluemonday.Policy {
	p := bluemonday.NewPolicy()
	p.AllowElements(
		"a", "abbr", "acronym", "address", "article", "aside", "b", "bdi", "bdo", "big", "blockquote", "br",
		"caption", "center", "cite", "code", "col", "colgroup", "dd", "del", "details", "dfn", "div", "dl", "dt",
		"em", "figcaption", "figure", "font", "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hgroup",
		"hr", "i", "img", "ins", "kbd", "li", "main", "mark", "nav", "ol", "p", "pre", "q", "rp", "rt", "ruby",
		"s", "samp", "section", "small", "span", "strike", "strong", "sub", "summary", "sup", "table", "tbody",
		"td", "tfoot", "th", "thead", "time", "tr", "tt", "u", "ul", "var", "wbr",
	)
	p.AllowURLSchemes("http", "https", "mailto", "tel", "cid")
	p.RequireParseableURLs(true)
	p.AllowRelativeURLs(true) // only for protocol-relative images; rewrite.go drops the rest

	p.AllowAttrs("title").Matching(textAttr).Globally()
	p.AllowAttrs("lang").Matching(regexp.MustCompile(`^[a-zA-Z0-9-]{1,35}$`)).Globally()
	p.AllowAttrs("dir").Matching(dirAttr).Globally()
	p.AllowAttrs("align", "valign").Matching(alignAttr).Globally()
	p.AllowAttrs("width", "height").Matching(lengthAttr).Globally()
	p.AllowAttrs("bgcolor", "color").Matching(colorAttr).Globally()

	p.AllowAttrs("href").OnElements("a")
	p.AllowAttrs("src").OnElements("img")
	p.AllowAttrs("alt").Matching(textAttr).OnElements("img", "area")
	p.AllowAttrs("border", "hspace", "vspace").Matching(numberAttr).OnElements("img", "table")
	p.AllowAttrs("cite").OnElements("blockquote", "q", "del", "ins")
	p.AllowAttrs("datetime").Matching(textAttr).OnElements("time", "del", "ins")
	p.AllowAttrs("cellpadding", "cellspacing").Matching(numberAttr).OnElements("table")
	p.AllowAttrs("summary").Matching(textAttr).OnElements("table")
	p.AllowAttrs("background").Matching(httpURL).OnElements("table", "td", "th", "tr")
	p.AllowAttrs("colspan", "rowspan", "span").Matching(numberAttr).OnElements("td", "th", "col", "colgroup")
	p.AllowAttrs("nowrap").Matching(regexp.MustCompile(`(?i)^(nowrap)?$`)).OnElements("td", "th")
	p.AllowAttrs("scope", "abbr", "headers").Matching(textAttr).OnElements("td", "th")
	p.AllowAttrs("start").Matching(numberAttr).OnElements("ol")
	p.AllowAttrs("type").Matching(listType).OnElements("ol", "ul", "li")
	p.AllowAttrs("value").Matching(numberAttr).OnElements("li")
	p.AllowAttrs("face").Matching(faceAttr).OnElements("font")
	p.AllowAttrs("size").Matching(regexp.MustCompile(`^\s*[+-]?[0-9]\s*$`)).OnElements("font", "hr")
	p.AllowAttrs("noshade").Matching(regexp.MustCompile(`(?i)^(noshade)?$`)).OnElements("hr")
	p.AllowAttrs("open").Matching(regexp.MustCompile(`(?i)^(open)?$`)).OnElements("details")

	// bluemonday checks each value with its handler for the property.
	p.AllowStyles(
		"color", "background-color", "background", "background-image", "background-repeat", "background-position",
		"background-size", "opacity",
		"font", "font-family", "font-size", "font-style", "font-weight", "font-variant", "line-height",
		"letter-spacing", "word-spacing", "text-align", "text-decoration", "text-decoration-line",
		"text-decoration-color", "text-decoration-style", "text-indent", "text-transform", "vertical-align",
		"white-space", "word-break", "word-wrap", "overflow-wrap", "direction", "unicode-bidi",
		"margin", "margin-top", "margin-right", "margin-bottom", "margin-left",
		"padding", "padding-top", "padding-right", "padding-bottom", "padding-left",
		"border", "border-top", "border-right", "border-bottom", "border-left",
		"border-color", "border-style", "border-width", "border-collapse", "border-spacing", "border-radius",
		"border-top-color", "border-right-color", "border-bottom-color", "border-left-color",
		"border-top-style", "border-right-style", "border-bottom-style", "border-left-style",
		"border-top-width", "border-right-width", "border-bottom-width", "border-left-width",
		"width", "height", "max-width", "min-width", "max-height", "min-height",
		"display", "float", "clear", "table-layout", "caption-side", "empty-cells",
		"list-style-type", "list-style-position", "text-overflow", "overflow",
	).Globally()
	return p
}
