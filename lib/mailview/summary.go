package mailview

import (
	"strings"

	"github.com/emersion/go-imap/v2"
)

// HasAttachment tells the message list whether to show an attachment
// marker, from the IMAP BODYSTRUCTURE alone, with the same idea as Parse:
// files, attached messages and photos count; text bodies and the pictures
// of an HTML body (the images of a multipart/related) do not.
func HasAttachment(bs imap.BodyStructure) bool {
	return hasAttachment(bs, false)
}

func hasAttachment(bs imap.BodyStructure, related bool) bool {
	switch p := bs.(type) {
	case *imap.BodyStructureMultiPart:
		sub := strings.EqualFold(p.Subtype, "related")
		for i, c := range p.Children {
			// The root of a multipart/related is its body.
			if hasAttachment(c, sub && i > 0) {
				return true
			}
		}
		return false
	case *imap.BodyStructureSinglePart:
		disp := ""
		if d := p.Disposition(); d != nil {
			disp = strings.ToLower(d.Value)
		}
		typ := strings.ToLower(p.Type)
		switch {
		case disp == "attachment":
			return true
		case typ == "message" && strings.EqualFold(p.Subtype, "rfc822"):
			return true
		case typ == "text" && (strings.EqualFold(p.Subtype, "plain") || strings.EqualFold(p.Subtype, "html")):
			return disp != "inline" && p.Filename() != ""
		case related && typ == "image":
			return false
		}
		return true
	}
	return false
}
