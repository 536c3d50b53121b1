package userdb

import (
	"fmt"
	"strings"
)

// Service is one protocol a user may be allowed to use.
type Service string

const (
	IMAP    Service = "imap"
	POP3    Service = "pop3"
	Submit  Service = "submit"
	Webmail Service = "webmail"
)

// serviceOrder is the order in which services are written.
var serviceOrder = []Service{IMAP, POP3, Submit, Webmail}

// Services is a set of services.
type Services uint8

// AllServices is every service.
const AllServices Services = 1<<4 - 1 // one bit per entry of serviceOrder

// bit returns the set holding just s, or 0 for an unknown service.
func (s Service) bit() Services {
	for i, x := range serviceOrder {
		if x == s {
			return 1 << i
		}
	}
	return 0
}

// Has reports whether svc is in the set.
func (s Services) Has(svc Service) bool { b := svc.bit(); return b != 0 && s&b != 0 }

// With returns the set with svc added.
func (s Services) With(svc Service) Services { return s | svc.bit() }

// Without returns the set with svc removed.
func (s Services) Without(svc Service) Services { return s &^ svc.bit() }

// List returns the services in the set, in the file's order.
func (s Services) List() []Service {
	var out []Service
	for _, svc := range serviceOrder {
		if s.Has(svc) {
			out = append(out, svc)
		}
	}
	return out
}

// String returns the file's form: "imap,pop3" or "-" for none.
func (s Services) String() string {
	l := s.List()
	if len(l) == 0 {
		return "-"
	}
	parts := make([]string, len(l))
	for i, svc := range l {
		parts[i] = string(svc)
	}
	return strings.Join(parts, ",")
}

// ParseServices parses a comma list of services, or "-" for none.
// Names are case-insensitive; an unknown, empty or repeated name is an error.
func ParseServices(s string) (Services, error) {
	if s == "-" {
		return 0, nil
	}
	var set Services
	for _, name := range strings.Split(s, ",") {
		b := Service(strings.ToLower(name)).bit()
		switch {
		case name == "":
			return 0, fmt.Errorf("services %q: empty name", s)
		case b == 0:
			return 0, fmt.Errorf("services %q: unknown service %q (want imap, pop3, submit, webmail or -)", s, name)
		case set&b != 0:
			return 0, fmt.Errorf("services %q: %s listed twice", s, name)
		}
		set |= b
	}
	return set, nil
}
