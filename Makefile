# mailctl — build, run, test, install.
#
#   make run      build and run the whole server on safe defaults (./mailctl-dev, loopback ports)
#   make test     every test: vet, gofmt, generated docs up to date, go test -race
#   make bench    benchmarks (deliver rate and start-to-exit time, SMTP inbound vs Postfix, IMAP vs Dovecot, store, passwords)

GO        ?= go
PREFIX    ?= /usr/local
DESTDIR   ?=
BINDIR    := $(DESTDIR)$(PREFIX)/bin
SBINDIR   := $(DESTDIR)$(PREFIX)/sbin
LIBBINDIR := $(DESTDIR)$(PREFIX)/lib/mailctl/bin
MANDIR    := $(DESTDIR)$(PREFIX)/share/man/man8
SHAREDIR  := $(DESTDIR)$(PREFIX)/share/mailctl
BASHDIR   := $(DESTDIR)$(PREFIX)/share/bash-completion/completions
ZSHDIR    := $(DESTDIR)$(PREFIX)/share/zsh/vendor-completions
FISHDIR   := $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d
# Names the binary answers to through argv[0]. They go to lib/mailctl/bin so
# that passwd, useradd and users never shadow the system's own commands.
LINKS     := deliver useradd userdel usermod passwd users alias domain serve
# Debian packages the tests talk to (installed by test-deps when missing).
TEST_PKGS := dovecot-core dovecot-imapd systemd util-linux swaks libnet-ssleay-perl libio-socket-ssl-perl isync fetchmail clamav-daemon spamassassin spamd chromium fonts-dejavu-core

.PHONY: all build run test test-deps vet bench man completions docs install clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -o mailctl ./cmd/mailctl

run: build
	./mailctl serve --dev

test-deps:
	@missing=""; for p in $(TEST_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" != 0 ]; then echo "test-deps: missing Debian packages:$$missing (run as root or install them)"; exit 1; fi; \
	  echo "test-deps: installing$$missing"; \
	  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update -q && \
	  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends $$missing; \
	fi

vet:
	@out=$$(gofmt -l cmd lib); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

test: test-deps vet
	$(GO) test -race -shuffle=on -timeout 20m ./...

bench: build
	MAILCTL_BIN=$(CURDIR)/mailctl $(GO) test -run '^$$' -bench . -benchtime 300x ./cmd/mailctl
	$(GO) test -run '^$$' -bench . ./lib/maildir ./lib/passwd
	@if [ -d ../shared/bench ]; then .ci/bench-mda.sh; else echo "(../shared/bench not found: skipping the dovecot-lda comparison)"; fi
	@if [ -d ../shared/bench ]; then .ci/bench-smtp.sh; else echo "(../shared/bench not found: skipping the Postfix SMTP comparison)"; fi
	$(GO) test -run '^$$' -bench . -benchtime 10x ./lib/imapd
	@if [ -d ../shared/bench ]; then .ci/bench-imap.sh; else echo "(../shared/bench not found: skipping the Dovecot IMAP comparison)"; fi
	$(GO) test -run '^$$' -bench . ./lib/pop3d
	$(GO) test -run '^$$' -bench . -benchtime 20x ./lib/webmail
	$(GO) test -count=1 -run '^TestBayesAccuracy$$' -v ./lib/scan | grep 'bayes accuracy'
	@if [ -d ../shared/bench ]; then .ci/bench-pop3.sh; else echo "(../shared/bench not found: skipping the Dovecot POP3 comparison)"; fi

man: build
	rm -rf man && ./mailctl gendocs --man man

completions: build
	rm -rf completions && ./mailctl gendocs --completions completions

docs: man completions

install: build
	install -d $(BINDIR) $(SBINDIR) $(LIBBINDIR) $(MANDIR) $(SHAREDIR)/examples $(BASHDIR) $(ZSHDIR) $(FISHDIR)
	install -m 0755 mailctl $(BINDIR)/mailctl
	# sendmail goes in sbin, where cron and MUAs look for it, once the subcommand exists.
	if ./mailctl sendmail --help >/dev/null 2>&1; then ln -sf ../bin/mailctl $(SBINDIR)/sendmail; fi
	for l in $(LINKS); do ln -sf ../../../bin/mailctl $(LIBBINDIR)/$$l; done
	install -m 0644 man/*.8 $(MANDIR)/
	install -m 0644 completions/mailctl.bash $(BASHDIR)/mailctl
	install -m 0644 completions/_mailctl $(ZSHDIR)/_mailctl
	install -m 0644 completions/mailctl.fish $(FISHDIR)/mailctl.fish
	cp -r examples/. $(SHAREDIR)/examples/

clean:
	rm -f mailctl
	rm -rf mailctl-dev
