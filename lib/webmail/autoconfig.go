package webmail

import (
	"net/http"
	"text/template"
)

// autoconfigXML is Thunderbird's config-v1.1 format: IMAP on 993 (TLS) and
// 143 (STARTTLS), submission on 465 (TLS) and 587 (STARTTLS), the user's
// whole address as the login name.
var autoconfigXML = template.Must(template.New("ac").Parse(`<?xml version="1.0" encoding="UTF-8"?>
<clientConfig version="1.1">
  <emailProvider id="{{.Domain}}">
    <domain>{{.Domain}}</domain>
    <displayName>{{.Host}}</displayName>
    <incomingServer type="imap">
      <hostname>{{.Host}}</hostname><port>993</port><socketType>SSL</socketType>
      <authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username>
    </incomingServer>
    <incomingServer type="imap">
      <hostname>{{.Host}}</hostname><port>143</port><socketType>STARTTLS</socketType>
      <authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username>
    </incomingServer>
    <outgoingServer type="smtp">
      <hostname>{{.Host}}</hostname><port>465</port><socketType>SSL</socketType>
      <authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username>
    </outgoingServer>
    <outgoingServer type="smtp">
      <hostname>{{.Host}}</hostname><port>587</port><socketType>STARTTLS</socketType>
      <authentication>password-cleartext</authentication><username>%EMAILADDRESS%</username>
    </outgoingServer>
  </emailProvider>
</clientConfig>
`))

func (s *Server) autoconfig(w http.ResponseWriter, r *http.Request) {
	domain := s.opts.Domain
	if domain == "" {
		domain = s.opts.Hostname
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	autoconfigXML.Execute(w, struct{ Host, Domain string }{xmlEscape(s.opts.Hostname), xmlEscape(domain)})
}
