package jsonrpc

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"unicode/utf8"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
)

// parseSend decodes a SendMessage request body into w as json.Unmarshal
// would, in one pass over the bytes and without reflection; ok is false
// wherever json.Unmarshal would fail or this parser is unsure, and the
// caller then leaves the body to a2a-go's binding. It assumes what
// decodeSend checked first: body is valid JSON (json.Valid) and its object
// keys are plain ASCII, unescaped and unique ignoring case (plainKeys), so
// that matching a key to a field ignoring ASCII case is exactly
// encoding/json's rule. Free-form values (metadata, data) decode as
// encoding/json decodes into an interface; strings with escapes or
// invalid UTF-8 are unquoted by encoding/json itself. A key it does not
// know fails it (the binding then decodes the body).
func parseSend(body []byte, w *wireRequest) (ok bool) {
	p := jsonParser{b: body}
	return p.object(func(key []byte) bool {
		switch {
		case fold(key, "jsonrpc"):
			return p.str(&w.JSONRPC)
		case fold(key, "method"):
			return p.str(&w.Method)
		case fold(key, "id"):
			if p.null() {
				w.ID = nil
				return true
			}
			v, ok := p.value()
			w.ID = v
			return ok
		case fold(key, "params"):
			if p.null() {
				w.Params = nil
				return true
			}
			w.Params = new(wireParams)
			return p.params(w.Params)
		}
		return false // a key the fast path does not know: the binding decides
	})
}

// The keys the fast path decodes, per object, as its parser matches them
// (ignoring ASCII case, as encoding/json does). A request with any other
// key goes to the binding, so that nothing the binding would read is
// dropped here; TestFastPathKeys holds these lists to a2a-go's types and
// to the parser.
var (
	envelopeKeys = []string{"jsonrpc", "method", "id", "params"}
	paramsKeys   = []string{"tenant", "configuration", "message", "metadata"}
	messageKeys  = []string{"messageId", "contextId", "extensions", "metadata", "parts", "referenceTaskIds", "role", "taskId"}
	partKeys     = []string{"text", "raw", "data", "url", "filename", "mediaType", "metadata"}
)

func (p *jsonParser) params(w *wireParams) bool {
	return p.object(func(key []byte) bool {
		switch {
		case fold(key, "tenant"):
			return p.str(&w.Tenant)
		case fold(key, "configuration"):
			if p.null() {
				w.Config = nil
				return true
			}
			start := p.i
			if !p.skip() {
				return false
			}
			w.Config = new(a2acore.SendMessageConfig)
			return json.Unmarshal(p.b[start:p.i], w.Config) == nil
		case fold(key, "message"):
			if p.null() {
				w.Message = nil
				return true
			}
			w.Message = new(wireMessage)
			return p.message(w.Message)
		case fold(key, "metadata"):
			return p.object2map(&w.Metadata)
		}
		return false // a key the fast path does not know: the binding decides
	})
}

func (p *jsonParser) message(m *wireMessage) bool {
	return p.object(func(key []byte) bool {
		switch {
		case fold(key, "messageId"):
			return p.str(&m.ID)
		case fold(key, "contextId"):
			return p.str(&m.ContextID)
		case fold(key, "extensions"):
			return p.strings(&m.Extensions)
		case fold(key, "metadata"):
			return p.object2map(&m.Metadata)
		case fold(key, "parts"):
			if p.null() {
				m.Parts = nil
				return true
			}
			m.Parts = []*wirePart{}
			return p.array(func() bool {
				if p.null() {
					m.Parts = append(m.Parts, nil)
					return true
				}
				part := new(wirePart)
				m.Parts = append(m.Parts, part)
				return p.part(part)
			})
		case fold(key, "referenceTaskIds"):
			var ids []string
			if !p.strings(&ids) {
				return false
			}
			m.ReferenceTasks = nil
			if ids != nil {
				m.ReferenceTasks = make([]a2acore.TaskID, len(ids))
				for i, id := range ids {
					m.ReferenceTasks[i] = a2acore.TaskID(id)
				}
			}
			return true
		case fold(key, "role"):
			return p.str(&m.Role)
		case fold(key, "taskId"):
			id := string(m.TaskID)
			ok := p.str(&id)
			m.TaskID = a2acore.TaskID(id)
			return ok
		}
		return false // a key the fast path does not know: the binding decides
	})
}

func (p *jsonParser) part(w *wirePart) bool {
	return p.object(func(key []byte) bool {
		switch {
		case fold(key, "text"):
			return p.strPtr(&w.Text)
		case fold(key, "raw"):
			if p.null() {
				w.Raw = nil
				return true
			}
			var s string
			if !p.str(&s) {
				return false
			}
			b := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
			n, err := base64.StdEncoding.Decode(b, []byte(s))
			if err != nil {
				return false
			}
			b = b[:n]
			w.Raw = &b
			return true
		case fold(key, "data"):
			if p.null() {
				w.Data = nil
				return true
			}
			v, ok := p.value()
			w.Data = &v
			return ok
		case fold(key, "url"):
			return p.strPtr(&w.URL)
		case fold(key, "filename"):
			return p.str(&w.Filename)
		case fold(key, "mediaType"):
			return p.str(&w.MediaType)
		case fold(key, "metadata"):
			return p.object2map(&w.Metadata)
		}
		return false // a key the fast path does not know: the binding decides
	})
}

// jsonParser reads valid JSON text left to right.
type jsonParser struct {
	b []byte
	i int
}

func (p *jsonParser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next returns the next non-space byte without consuming it, 0 at the end.
func (p *jsonParser) next() byte {
	p.ws()
	if p.i >= len(p.b) {
		return 0
	}
	return p.b[p.i]
}

// null consumes a null if one comes next.
func (p *jsonParser) null() bool {
	if p.next() == 'n' && bytes.HasPrefix(p.b[p.i:], []byte("null")) {
		p.i += 4
		return true
	}
	return false
}

// object calls field for each key, with the parser at its value; field
// consumes the value.
func (p *jsonParser) object(field func(key []byte) bool) bool {
	if p.next() != '{' {
		return false
	}
	p.i++
	if p.next() == '}' {
		p.i++
		return true
	}
	for {
		if p.next() != '"' {
			return false
		}
		end := bytes.IndexByte(p.b[p.i+1:], '"') // keys have no escapes
		if end < 0 {
			return false
		}
		key := p.b[p.i+1 : p.i+1+end]
		p.i += end + 2
		if p.next() != ':' {
			return false
		}
		p.i++
		if !field(key) {
			return false
		}
		switch p.next() {
		case ',':
			p.i++
		case '}':
			p.i++
			return true
		default:
			return false
		}
	}
}

// array calls elem for each element; elem consumes it.
func (p *jsonParser) array(elem func() bool) bool {
	if p.next() != '[' {
		return false
	}
	p.i++
	if p.next() == ']' {
		p.i++
		return true
	}
	for {
		if !elem() {
			return false
		}
		switch p.next() {
		case ',':
			p.i++
		case ']':
			p.i++
			return true
		default:
			return false
		}
	}
}

// str decodes a string into *s; null leaves *s as it is (encoding/json's
// rule); anything else fails.
func (p *jsonParser) str(s *string) bool {
	if p.null() {
		return true
	}
	v, ok := p.stringValue()
	if ok {
		*s = v
	}
	return ok
}

func (p *jsonParser) strPtr(s **string) bool {
	if p.null() {
		*s = nil
		return true
	}
	v, ok := p.stringValue()
	if ok {
		*s = &v
	}
	return ok
}

// strings decodes an array of strings; null elements are refused (rare,
// and encoding/json's zero value for them is easy to get wrong).
func (p *jsonParser) strings(ss *[]string) bool {
	if p.null() {
		*ss = nil
		return true
	}
	out := []string{}
	ok := p.array(func() bool {
		v, ok := p.stringValue()
		out = append(out, v)
		return ok
	})
	*ss = out
	return ok
}

// stringValue decodes the string that comes next.
func (p *jsonParser) stringValue() (string, bool) {
	if p.next() != '"' {
		return "", false
	}
	start := p.i
	plain := true
	j := p.i + 1
	for ; j < len(p.b) && p.b[j] != '"'; j++ {
		switch c := p.b[j]; {
		case c == '\\':
			plain = false
			j++
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	if j >= len(p.b) {
		return "", false
	}
	p.i = j + 1
	raw := p.b[start+1 : j]
	if plain || (bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw)) {
		return string(raw), true
	}
	var s string
	if err := json.Unmarshal(p.b[start:p.i], &s); err != nil {
		return "", false
	}
	return s, true
}

// object2map decodes an object of free-form values into *m (a fresh map,
// as no field is decoded twice), or null into nil.
func (p *jsonParser) object2map(m *map[string]any) bool {
	if p.null() {
		*m = nil
		return true
	}
	v, ok := p.value()
	if !ok {
		return false
	}
	obj, ok := v.(map[string]any)
	*m = obj
	return ok
}

// value decodes any JSON value as encoding/json decodes into an interface.
func (p *jsonParser) value() (any, bool) {
	switch c := p.next(); {
	case c == '{':
		m := map[string]any{}
		ok := p.object(func(key []byte) bool {
			v, ok := p.value()
			m[string(key)] = v
			return ok
		})
		return m, ok
	case c == '[':
		s := []any{}
		ok := p.array(func() bool {
			v, ok := p.value()
			s = append(s, v)
			return ok
		})
		return s, ok
	case c == '"':
		return p.stringValue()
	case c == 't' && bytes.HasPrefix(p.b[p.i:], []byte("true")):
		p.i += 4
		return true, true
	case c == 'f' && bytes.HasPrefix(p.b[p.i:], []byte("false")):
		p.i += 5
		return false, true
	case c == 'n' && p.null():
		return nil, true
	case c == '-' || c >= '0' && c <= '9':
		start := p.i
		for p.i < len(p.b) {
			switch c := p.b[p.i]; {
			case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
				p.i++
				continue
			}
			break
		}
		f, err := strconv.ParseFloat(string(p.b[start:p.i]), 64)
		return f, err == nil // out of range: encoding/json fails too
	}
	return nil, false
}

// skip consumes the value that comes next.
func (p *jsonParser) skip() bool {
	_, ok := p.value()
	return ok
}

// fold reports whether key equals name ignoring ASCII case; name is made
// of ASCII letters only.
func fold(key []byte, name string) bool {
	if len(key) != len(name) {
		return false
	}
	for i := range len(key) {
		if key[i]|0x20 != name[i]|0x20 {
			return false
		}
	}
	return true
}
