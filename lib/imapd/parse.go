package imapd

import (
	"sync"

	"github.com/emersion/go-imap/v2"

	"mailctl/lib/maildir"
)

// parseWorkers read and parse messages the cache doesn't know, in
// parallel: on a cold folder the time goes into waiting for the disk, and
// a few reads in flight at once go much faster than one at a time.
const parseWorkers = 8

// minParallel is the number of misses worth starting workers for.
const minParallel = 16

// cached reports whether the cache has usable data for m (with the body
// structure when needBS), without decoding it.
func cached(f *maildir.Folder, m *maildir.Message, needBS bool) bool {
	ok := false
	f.CacheLookup(*m, func(b []byte) {
		ok = len(b) >= 2 && b[0] == infoVersion && (!needBS || b[1]&1 != 0)
	})
	return ok
}

// parseAll parses the messages the cache can't answer for, in parallel,
// and returns their info by UID and the records to add to the cache.
func parseAll(f *maildir.Folder, msgs []*maildir.Message, needBS bool) (map[uint32]*msgInfo, []maildir.CacheRecord) {
	var miss []*maildir.Message
	for _, m := range msgs {
		if !cached(f, m, needBS) {
			miss = append(miss, m)
		}
	}
	if len(miss) < minParallel {
		return nil, nil // not worth it: parsed one by one as they come
	}
	out := make(map[uint32]*msgInfo, len(miss))
	recs := make([]maildir.CacheRecord, 0, len(miss))
	var mu sync.Mutex
	work := make(chan *maildir.Message)
	var wg sync.WaitGroup
	for range min(parseWorkers, len(miss)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ld := loader{f: f}
			for m := range work {
				info, ok := parseMessage(&ld, m, needBS)
				if !ok {
					continue
				}
				rec := maildir.CacheRecord{UID: m.UID, Key: m.Key, Data: info.encode()}
				mu.Lock()
				out[m.UID] = info
				recs = append(recs, rec)
				mu.Unlock()
			}
		}()
	}
	for _, m := range miss {
		work <- m
	}
	close(work)
	wg.Wait()
	return out, recs
}

// parseMessage reads and parses one message: the header only, unless the
// body structure is needed. It reports false when the file is gone.
func parseMessage(ld *loader, m *maildir.Message, needBS bool) (*msgInfo, bool) {
	ld.reset(m)
	if needBS {
		full, err := ld.message()
		if err != nil {
			return nil, false
		}
		return parseInfo(full[:headerEnd(full)], full), true
	}
	hdr, err := ld.header()
	if err != nil {
		return nil, false
	}
	return parseInfo(hdr, nil), true
}

// goneInfo stands for a message whose file disappeared (expunged
// elsewhere) before it could be parsed: empty, but well-formed.
func goneInfo(needBS bool) *msgInfo {
	info := &msgInfo{env: &imap.Envelope{}}
	if needBS {
		info.bs = &imap.BodyStructureSinglePart{Type: "text", Subtype: "plain", Text: &imap.BodyStructureText{}, Extended: &imap.BodyStructureSinglePartExt{}}
		info.hasBS = true
	}
	return info
}
