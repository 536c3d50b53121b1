package pickup

import (
	"fmt"
	"strings"
)

// Args is a parsed sendmail command line.
type Args struct {
	Request           // From, FromSet, FullName, Recipients, Extract
	IgnoreDots bool   // -i, -oi: a line with a single "." does not end the message
	Verbose    bool   // -v
	NoOp       bool   // -bi (newaliases): nothing to do, aliases are read directly
	Help       bool   // --help
	Config     string // --config FILE (the global flag, which cobra does not parse here)
	Ignored    []string
}

// Option letters, after sendmail 8 and Postfix's sendmail(1):
const (
	// valueOpts take a value, glued ("-fbob") or as the next argument.
	valueOpts = "BbCFfhLNOopRrVX"
	// gluedOpts take a value only when glued: "-d0.1", "-Am", "-q1h".
	gluedOpts = "dAq"
	// flagOpts take none and may be combined ("-ti").
	flagOpts = "GimntUve"
)

// globalValueFlags are mailctl's global flags with a separate value.
var globalValueFlags = map[string]bool{"--config": true, "--log-format": true, "--log-level": true, "--log-file": true}

// ParseArgs parses a sendmail command line (without the program name).
// Options may come before or after recipients (as GNU getopt permutes
// them); "--" ends them. Options other sendmails take and that mean
// nothing here are accepted and listed in Ignored, so cron's
// "-FCronDaemon -i -B8BITMIME -oem" works. Modes other than -bm (deliver)
// and -bi (a no-op) are refused with ExUsage.
func ParseArgs(args []string) (Args, error) {
	a := Args{Request: Request{UID: -1}}
	for i := 0; i < len(args); i++ {
		arg := args[i]
		switch {
		case arg == "--":
			a.Recipients = append(a.Recipients, args[i+1:]...)
			return a, a.check()
		case arg == "-" || !strings.HasPrefix(arg, "-"):
			a.Recipients = append(a.Recipients, arg)
		case strings.HasPrefix(arg, "--"):
			name, val, hasVal := strings.Cut(arg, "=")
			if name == "--help" {
				a.Help = true
				continue
			}
			if !globalValueFlags[name] {
				return a, errorf(ExUsage, "unknown option %s", arg)
			}
			if !hasVal {
				if i+1 >= len(args) {
					return a, errorf(ExUsage, "%s needs a value", name)
				}
				i++
				val = args[i]
			}
			if name == "--config" {
				a.Config = val
			} else {
				a.Ignored = append(a.Ignored, name+"="+val)
			}
		default:
			next, err := a.short(arg, args[i+1:])
			if err != nil {
				return a, err
			}
			i += next
		}
	}
	return a, a.check()
}

// short parses one argument of single-letter options, getopt style. It
// returns how many of the following arguments it took as a value.
func (a *Args) short(arg string, rest []string) (int, error) {
	for j := 1; j < len(arg); j++ {
		c := arg[j]
		switch {
		case strings.IndexByte(flagOpts, c) >= 0:
			a.flag(c)
		case strings.IndexByte(gluedOpts, c) >= 0:
			return 0, a.option(c, arg[j+1:])
		case strings.IndexByte(valueOpts, c) >= 0:
			if j+1 < len(arg) {
				return 0, a.option(c, arg[j+1:])
			}
			if len(rest) == 0 {
				return 0, errorf(ExUsage, "option -%c needs a value", c)
			}
			return 1, a.option(c, rest[0])
		default:
			return 0, errorf(ExUsage, "unknown option -%c (in %s)", c, arg)
		}
	}
	return 0, nil
}

func (a *Args) flag(c byte) {
	switch c {
	case 't':
		a.Extract = true
	case 'i':
		a.IgnoreDots = true
	case 'v':
		a.Verbose = true
	default: // -G, -m, -n, -U, -e: meaningless here
		a.Ignored = append(a.Ignored, "-"+string(c))
	}
}

func (a *Args) option(c byte, val string) error {
	switch c {
	case 'f', 'r':
		a.From, a.FromSet = val, true
	case 'F':
		a.FullName = val
	case 'o':
		if val == "i" {
			a.IgnoreDots = true
		} else {
			a.Ignored = append(a.Ignored, "-o"+val)
		}
	case 'b':
		return a.mode(val)
	case 'q':
		return errorf(ExUsage, "sendmail -q%s: the queue is run by \"mailctl queue run\" (or \"mailctl queue flush\" to retry deferred mail now)", val)
	default: // -B, -C, -h, -L, -N, -O, -p, -R, -V, -X, -d, -A
		a.Ignored = append(a.Ignored, fmt.Sprintf("-%c%s", c, val))
	}
	return nil
}

// mode handles -bX.
func (a *Args) mode(m string) error {
	switch m {
	case "m":
		return nil
	case "i":
		a.NoOp = true
		return nil
	case "p":
		return errorf(ExUsage, "sendmail -bp (mailq) is not supported: use \"mailctl queue list\"")
	case "d", "D":
		return errorf(ExUsage, "sendmail -b%s (daemon mode) is not supported: run \"mailctl smtpd\" and \"mailctl pickup\" (or \"mailctl serve\")", m)
	}
	return errorf(ExUsage, "sendmail -b%s is not supported: only -bm (read a message and send it) and -bi (a no-op) are", m)
}

func (a *Args) check() error {
	if a.Help || a.NoOp {
		return nil
	}
	if len(a.Recipients) == 0 && !a.Extract {
		return errorf(ExUsage, "no recipients given (name them, or use -t to take them from the message)")
	}
	return nil
}
