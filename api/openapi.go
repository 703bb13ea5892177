package api

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"time"
)

// OpenAPI returns the OpenAPI 3.1 document of every registered route,
// generated from the same route table that registers them, so it cannot
// list a route that does not exist or miss one that does.
func (s *Server) OpenAPI() []byte {
	s.openapiOnce.Do(func() {
		s.openapi, _ = json.MarshalIndent(s.openAPIDoc(), "", "  ")
	})
	return s.openapi
}

type schemaSet map[string]any

func (s *Server) openAPIDoc() map[string]any {
	schemas := schemaSet{}
	schemas["Problem"] = schemaOf(reflect.TypeOf(Problem{}), schemas)
	paths := map[string]map[string]any{}
	for _, r := range s.routes {
		p := openAPIPath(r.Path)
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		op := map[string]any{
			"summary":     r.Summary,
			"tags":        []string{r.Tag},
			"operationId": operationID(r.Method, r.Path),
			// Whether the call appends an audit entry (all but health,
			// readiness and metrics).
			"x-audited": !r.Unaudited,
		}
		var params []map[string]any
		for _, seg := range strings.Split(r.Path, "/") {
			if strings.HasPrefix(seg, ":") || strings.HasPrefix(seg, "*") {
				params = append(params, map[string]any{"name": seg[1:], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
			}
		}
		for _, q := range r.Query {
			params = append(params, map[string]any{"name": q.Name, "in": "query", "required": q.Required, "description": q.Description, "schema": map[string]any{"type": "string"}})
		}
		if !r.Unaudited {
			for _, h := range []struct{ name, desc string }{
				{"X-Purpose", "purpose of use (用证事由), at most 200 characters; logged"},
				{"X-End-User", "the person on whose behalf the call is made; logged"},
				{"X-Case-Number", "the case (办件) number the call serves; logged"},
			} {
				params = append(params, map[string]any{"name": h.name, "in": "header", "required": false, "description": h.desc, "schema": map[string]any{"type": "string"}})
			}
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if r.Request != nil {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(r.Request), schemas)}}}
		} else if r.Upload {
			op["requestBody"] = map[string]any{"required": true, "content": map[string]any{"application/octet-stream": map[string]any{"schema": map[string]any{"type": "string", "format": "binary"}}}}
		}
		status := r.Status
		if status == 0 {
			status = 200
		}
		resp := map[string]any{"description": "success"}
		if r.Response != nil {
			resp["content"] = map[string]any{"application/json": map[string]any{"schema": schemaOf(reflect.TypeOf(r.Response), schemas)}}
		}
		problem := map[string]any{"description": "problem details (RFC 9457)", "content": map[string]any{"application/problem+json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Problem"}}}}
		op["responses"] = map[string]any{itoa(status): resp, "default": problem}
		if !r.Public {
			op["security"] = []map[string][]string{{"bearer": {}}}
			if len(r.Roles) > 0 {
				roles := make([]string, len(r.Roles))
				for i, role := range r.Roles {
					roles[i] = string(role)
				}
				op["x-roles"] = roles
			}
		}
		paths[p][strings.ToLower(r.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":       "sharehub",
			"version":     s.cfg.Version,
			"description": "The city's government data-sharing hub: data directory, sync, e-licences, e-seals and the audited sharing API. Every call except /healthz, /readyz and /metrics is written to a tamper-evident audit log before its response is sent.",
		},
		"paths": paths,
		"components": map[string]any{
			"schemas":         schemas,
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "description": "an API key (shk_...) made by an admin"}},
		},
	}
}

func openAPIPath(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, ":") || strings.HasPrefix(s, "*") {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

func operationID(method, path string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	for _, seg := range strings.Split(path, "/") {
		seg = strings.TrimLeft(seg, ":*")
		seg = strings.NewReplacer(".", "_", "-", "_").Replace(seg)
		if seg == "" {
			continue
		}
		b.WriteString(strings.ToUpper(seg[:1]) + seg[1:])
	}
	return b.String()
}

func itoa(i int) string {
	b, _ := json.Marshal(i)
	return string(b)
}

var (
	timeType = reflect.TypeOf(time.Time{})
	rawType  = reflect.TypeOf(json.RawMessage(nil))
)

// schemaOf returns a JSON Schema for t, registering named structs under
// components/schemas and referring to them.
func schemaOf(t reflect.Type, set schemaSet) map[string]any {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == timeType:
		return map[string]any{"type": "string", "format": "date-time"}
	case t == rawType:
		// Any JSON value, passed through as it is: not the base64 string
		// encoding/json makes of other byte slices.
		return map[string]any{}
	case t.Kind() == reflect.Array && t.Elem().Kind() == reflect.Uint8:
		return map[string]any{"type": "string", "format": "byte"}
	}
	switch t.Kind() {
	case reflect.String:
		return map[string]any{"type": "string"}
	case reflect.Bool:
		return map[string]any{"type": "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64, reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return map[string]any{"type": "integer"}
	case reflect.Float32, reflect.Float64:
		return map[string]any{"type": "number"}
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return map[string]any{"type": "string", "format": "byte"}
		}
		return map[string]any{"type": "array", "items": schemaOf(t.Elem(), set)}
	case reflect.Map:
		return map[string]any{"type": "object", "additionalProperties": schemaOf(t.Elem(), set)}
	case reflect.Interface:
		return map[string]any{}
	case reflect.Struct:
		name := schemaName(t)
		ref := map[string]any{"$ref": "#/components/schemas/" + name}
		if _, done := set[name]; done {
			return ref
		}
		set[name] = map[string]any{} // placeholder for recursive types
		props := map[string]any{}
		var required []string
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			jname, opts, _ := strings.Cut(tag, ",")
			if et := f.Type; f.Anonymous && jname == "" {
				// An embedded struct's fields are the outer object's, as
				// encoding/json writes them.
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					schemaOf(et, set)
					inner := set[schemaName(et)].(map[string]any)
					for k, v := range inner["properties"].(map[string]any) {
						props[k] = v
					}
					if req, ok := inner["required"].([]string); ok {
						required = append(required, req...)
					}
					continue
				}
			}
			if jname == "" {
				jname = f.Name
			}
			props[jname] = schemaOf(f.Type, set)
			if !strings.Contains(opts, "omitempty") && !strings.Contains(opts, "omitzero") {
				required = append(required, jname)
			}
		}
		sort.Strings(required)
		sch := map[string]any{"type": "object", "properties": props}
		if len(required) > 0 {
			sch["required"] = required
		}
		set[name] = sch
		return ref
	}
	return map[string]any{}
}

func schemaName(t reflect.Type) string {
	name := t.Name()
	if i := strings.Index(name, "["); i >= 0 { // generic instance: list[pkg.T]
		inner := name[i+1 : len(name)-1]
		if j := strings.LastIndex(inner, "."); j >= 0 {
			inner = inner[j+1:]
		}
		name = name[:i] + "Of" + inner
	}
	pkg := t.PkgPath()
	if j := strings.LastIndex(pkg, "/"); j >= 0 {
		pkg = pkg[j+1:]
	}
	if pkg == "api" || pkg == "" {
		return strings.ToUpper(name[:1]) + name[1:]
	}
	return strings.ToUpper(pkg[:1]) + pkg[1:] + "." + name
}
