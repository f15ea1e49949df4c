// Package stixschema validates JSON against the OASIS STIX 2.1 JSON schemas
// kept in node/stix/testdata/schemas, for tests anywhere in the module
// that check what Kurier emits (the stix package itself, the indicator API,
// TAXII). Only tests use it, hence internal; it needs the module's source
// tree, as tests have.
package stixschema

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Base is the $id prefix of the schemas: they reference each other
// relatively, resolved against their $id, so each file is registered under
// its $id.
const Base = "http://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/stix2.1/schemas/"

// Dir is the directory holding the schemas (common/, sdos/, sros/,
// observables/).
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "stix", "testdata", "schemas")
}

var (
	once     sync.Once
	compiler *jsonschema.Compiler
	loadErr  error
	compiled sync.Map // relative path → *jsonschema.Schema
)

func load() (*jsonschema.Compiler, error) {
	once.Do(func() {
		c := jsonschema.NewCompiler()
		files, _ := filepath.Glob(filepath.Join(Dir(), "*", "*.json"))
		if len(files) < 50 {
			loadErr = fmt.Errorf("stixschema: only %d schema files in %s", len(files), Dir())
			return
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				loadErr = fmt.Errorf("stixschema: %w", err)
				return
			}
			doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
			if err != nil {
				loadErr = fmt.Errorf("stixschema: %s: %w", f, err)
				return
			}
			m, _ := doc.(map[string]any)
			if s, _ := m["$schema"].(string); s != "https://json-schema.org/draft/2020-12/schema" {
				loadErr = fmt.Errorf("stixschema: %s: $schema %q is not draft 2020-12", f, s)
				return
			}
			id, _ := m["$id"].(string)
			if err := c.AddResource(id, doc); err != nil {
				loadErr = fmt.Errorf("stixschema: %s: %w", f, err)
				return
			}
		}
		compiler = c
	})
	return compiler, loadErr
}

// Schema returns the compiled schema for a STIX type (SDO, SRO, SCO,
// bundle, marking-definition, language-content, extension-definition).
func Schema(typ string) (*jsonschema.Schema, error) {
	c, err := load()
	if err != nil {
		return nil, err
	}
	var rel string
	for _, dir := range []string{"common", "sdos", "sros", "observables"} {
		if _, err := os.Stat(filepath.Join(Dir(), dir, typ+".json")); err == nil {
			rel = dir + "/" + typ + ".json"
			break
		}
	}
	if rel == "" || strings.ContainsAny(typ, `/\.`) {
		return nil, fmt.Errorf("stixschema: no schema for type %q", typ)
	}
	if s, ok := compiled.Load(rel); ok {
		return s.(*jsonschema.Schema), nil
	}
	s, err := c.Compile(Base + rel)
	if err != nil {
		return nil, fmt.Errorf("stixschema: compile %s: %w", rel, err)
	}
	compiled.Store(rel, s)
	return s, nil
}

// ValidateType validates data against the schema for typ.
func ValidateType(typ string, data []byte) error {
	s, err := Schema(typ)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("stixschema: instance: %w", err)
	}
	return s.Validate(inst)
}

// Validate validates one STIX object (or bundle) against the schema its
// "type" names.
func Validate(data []byte) error {
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return fmt.Errorf("stixschema: %w", err)
	}
	if head.Type == "" {
		return errors.New(`stixschema: no "type"`)
	}
	return ValidateType(head.Type, data)
}
