package stix

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
)

// DecodePlace names where in a bundle (or TAXII envelope, or lone object) a
// decoding problem lies, as far as the input up to it tells.
type DecodePlace struct {
	Index    int    // index in "objects", or -1 (a lone object, or outside the list)
	ID       string // the object's id, if it came before the problem
	Property string // the object's top-level property being read
}

type frame struct {
	obj       bool
	key       string // current key (objects)
	expectKey bool
	n         int    // completed elements (arrays)
	id        string // "id" value seen (objects)
}

// Locate reads data token by token up to its first syntax error and
// reports which object and property were being read. ok is false when data
// holds no syntax error.
func Locate(data []byte) (loc DecodePlace, ok bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var st []*frame
	done := func() { // a value in the innermost frame is complete
		if len(st) == 0 {
			return
		}
		if f := st[len(st)-1]; f.obj {
			f.expectKey = true
		} else {
			f.n++
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return DecodePlace{Index: -1}, false
			}
			return where(st), true
		}
		if d, isDelim := tok.(json.Delim); isDelim {
			switch d {
			case '{':
				st = append(st, &frame{obj: true, expectKey: true})
			case '[':
				st = append(st, &frame{})
			default:
				st = st[:len(st)-1]
				done()
			}
			continue
		}
		if len(st) > 0 {
			if f := st[len(st)-1]; f.obj && f.expectKey {
				f.key, f.expectKey = tok.(string), false
				continue
			} else if f.obj && f.key == "id" {
				f.id, _ = tok.(string)
			}
		}
		done()
	}
}

func where(st []*frame) DecodePlace {
	loc := DecodePlace{Index: -1}
	if len(st) == 0 || !st[0].obj {
		return loc
	}
	top := st[0]
	if top.key == "objects" && len(st) >= 2 && !st[1].obj {
		loc.Index = st[1].n
		if len(st) >= 3 && st[2].obj {
			loc.ID, loc.Property = st[2].id, st[2].key
		}
		return loc
	}
	loc.ID, loc.Property = top.id, top.key
	return loc
}
