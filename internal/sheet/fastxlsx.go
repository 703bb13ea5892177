package sheet

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// A sheet's rows are read with a small streaming scanner of the sheet XML
// instead of excelize's Rows (encoding/xml, a token per tag and text: two
// thirds of a large import's CPU). It yields exactly what excelize's
// Rows().Columns() yields with RawCellValue: the same cells at the same
// positions, shared and inline strings resolved (with _xHHHH_ escapes),
// other cells as stored, an empty row for each missing row number. The
// workbook is still opened by excelize first (size limits, sheet list);
// when a part cannot be found the sheet is read by excelize instead.

// fastRows reads one worksheet.
type fastRows struct {
	zr  *zip.ReadCloser
	rc  io.ReadCloser
	sc  xmlScanner
	sst []string

	seek       int      // rows yielded
	last       int      // number of the last <row> read
	pending    []string // a row read ahead of its number
	pendingF   []int    // its formula cells' columns (0-based)
	formulas   []int    // the formula cells' columns of the row last yielded
	pendingNum int
	havePend   bool
	cellF      []int // formula columns of the row being read
	done       bool
	e          error
	// date1904 is the workbook's date system (workbookPr date1904), set
	// by workbook.
	date1904 bool
}

// openFast opens sheet (a workbook sheet name) of the xlsx at file, or
// returns an error if the workbook's parts are not where they should be.
func openFast(file, sheet string, limit int64) (*fastRows, error) {
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, err
	}
	fr := &fastRows{zr: zr}
	if err := fr.init(sheet, limit); err != nil {
		zr.Close()
		return nil, err
	}
	return fr, nil
}

type relationships struct {
	Rels []struct {
		ID     string `xml:"Id,attr"`
		Type   string `xml:"Type,attr"`
		Target string `xml:"Target,attr"`
	} `xml:"Relationship"`
}

func (fr *fastRows) find(name string) *zip.File {
	name = strings.TrimPrefix(name, "/")
	for _, f := range fr.zr.File {
		if f.Name == name {
			return f
		}
	}
	return nil
}

func (fr *fastRows) readSmall(name string, v any) error {
	f := fr.find(name)
	if f == nil {
		return fmt.Errorf("no part %s", name)
	}
	if f.UncompressedSize64 > 16<<20 {
		return fmt.Errorf("part %s is large", name)
	}
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	return decodeXML(rc, v)
}

func decodeXML(r io.Reader, v any) error {
	d := xml.NewDecoder(r)
	d.Strict = false
	return d.Decode(v)
}

func target(dir, t string) string {
	if strings.HasPrefix(t, "/") {
		return strings.TrimPrefix(t, "/")
	}
	return path.Join(dir, t)
}

// wbSheet is one sheet of the workbook: its name and its part ("" when
// the workbook's relationships give none).
type wbSheet struct{ name, path string }

// workbook reads the workbook's sheets, in order, and the path of its
// shared strings, and sets fr.date1904.
func (fr *fastRows) workbook() (sheets []wbSheet, sstPath string, err error) {
	var root relationships
	if err := fr.readSmall("_rels/.rels", &root); err != nil {
		return nil, "", err
	}
	wbPath := ""
	for _, r := range root.Rels {
		if strings.HasSuffix(r.Type, "/officeDocument") {
			wbPath = target("", r.Target)
		}
	}
	if wbPath == "" {
		return nil, "", errors.New("no workbook")
	}
	var wb struct {
		Pr struct {
			Date1904 string `xml:"date1904,attr"`
		} `xml:"workbookPr"`
		Sheets []struct {
			Name string `xml:"name,attr"`
			RID  string `xml:"http://schemas.openxmlformats.org/officeDocument/2006/relationships id,attr"`
		} `xml:"sheets>sheet"`
	}
	if err := fr.readSmall(wbPath, &wb); err != nil {
		return nil, "", err
	}
	// Older Mac Excel counts date serials from 1904-01-01, not 1900: read
	// as 1900 serials its dates are 4 years and a day early. The value is
	// an xsd:boolean ("1" or "true"), parsed as encoding/xml parses
	// excelize's bool field, so both readers agree; a value neither can
	// parse sends the workbook to excelize, which refuses it.
	if v := strings.TrimSpace(wb.Pr.Date1904); v != "" {
		if fr.date1904, err = strconv.ParseBool(v); err != nil {
			return nil, "", fmt.Errorf("workbookPr date1904=%q: %w", v, err)
		}
	}
	var rels relationships
	dir := path.Dir(wbPath)
	if err := fr.readSmall(path.Join(dir, "_rels", path.Base(wbPath)+".rels"), &rels); err != nil {
		return nil, "", err
	}
	parts := map[string]string{} // relationship id → worksheet part
	for _, r := range rels.Rels {
		switch {
		case r.ID != "" && strings.HasSuffix(r.Type, "/worksheet"):
			parts[r.ID] = target(dir, r.Target)
		case strings.HasSuffix(r.Type, "/sharedStrings"):
			sstPath = target(dir, r.Target)
		}
	}
	for _, s := range wb.Sheets {
		sheets = append(sheets, wbSheet{name: s.Name, path: parts[s.RID]})
	}
	return sheets, sstPath, nil
}

func (fr *fastRows) init(sheet string, limit int64) error {
	sheets, sstPath, err := fr.workbook()
	if err != nil {
		return err
	}
	sheetPath := ""
	for _, s := range sheets {
		if s.name == sheet {
			sheetPath = s.path
		}
	}
	sf := fr.find(sheetPath)
	if sf == nil {
		return errors.New("no worksheet part")
	}
	if sstPath != "" {
		if f := fr.find(sstPath); f != nil {
			if err := fr.readSST(f, limit); err != nil {
				return err
			}
		}
	}
	rc, err := sf.Open()
	if err != nil {
		return err
	}
	fr.rc = rc
	fr.sc = xmlScanner{r: bufio.NewReaderSize(io.LimitReader(rc, limit), 256<<10)}
	return nil
}

// readSST reads the shared strings: each <si>'s <t> text, then its runs'
// (<r><t>), never phonetic runs (<rPh>), as excelize's xlsxSI.String.
func (fr *fastRows) readSST(f *zip.File, limit int64) error {
	rc, err := f.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	sc := xmlScanner{r: bufio.NewReaderSize(io.LimitReader(rc, limit), 256<<10)}
	for {
		tok, err := sc.next()
		if err != nil {
			return err
		}
		switch {
		case tok.kind == tokEOF:
			return nil
		case tok.kind == tokStart && tok.name == "si" && !tok.self:
			s, err := sc.si()
			if err != nil {
				return err
			}
			fr.sst = append(fr.sst, bstrUnmarshal(s))
		case tok.kind == tokStart && tok.name == "si":
			fr.sst = append(fr.sst, "")
		}
	}
}

// si reads the inside of <si> or <is> up to its end tag and returns its
// text: the <t> directly inside, then the runs' <t> (as excelize's
// xlsxSI.String), never phonetic runs.
func (sc *xmlScanner) si() (string, error) {
	t, runs := sc.t[:0], sc.runs[:0]
	defer func() { sc.t, sc.runs = t[:0], runs[:0] }()
	depth := 0
	in := 0   // 1: reading the <t>, 2: a run's <t>
	skip := 0 // inside <rPh>
	for {
		tok, err := sc.next()
		if err != nil {
			return "", err
		}
		switch tok.kind {
		case tokEOF:
			return "", io.ErrUnexpectedEOF
		case tokStart:
			if tok.self {
				continue
			}
			depth++
			switch {
			case skip > 0:
				skip++
			case tok.name == "rPh":
				skip = 1
			case tok.name == "t" && depth == 1:
				in = 1
			case tok.name == "t" && depth == 2:
				in = 2
			}
		case tokEnd:
			if depth == 0 { // </si> or </is>
				if len(runs) == 0 {
					return string(t), nil
				}
				return string(t) + string(runs), nil
			}
			depth--
			if skip > 0 {
				skip--
			}
			if tok.name == "t" {
				in = 0
			}
		case tokText:
			switch {
			case skip > 0:
			case in == 1:
				t = append(t, tok.text...)
			case in == 2:
				runs = append(runs, tok.text...)
			}
		}
	}
}

func (fr *fastRows) close() error {
	if fr.rc != nil {
		fr.rc.Close()
	}
	return fr.zr.Close()
}

func (fr *fastRows) err() error { return fr.e }

func (fr *fastRows) formulaCols() []int { return fr.formulas }

// maxRows is Excel's (and excelize's) row limit.
const maxRows = 1048576

func (fr *fastRows) next() ([]string, bool) {
	if fr.e != nil {
		return nil, false
	}
	fr.seek++
	if !fr.havePend && !fr.done {
		num, cells, ok, err := fr.row()
		if err != nil {
			fr.e = err
			return nil, false
		}
		if ok {
			fr.pending, fr.pendingNum, fr.havePend = cells, num, true
			fr.pendingF, fr.cellF = fr.cellF, nil
		} else {
			fr.done = true
		}
	}
	if !fr.havePend {
		return nil, false
	}
	fr.formulas = nil
	if fr.pendingNum > fr.seek {
		return nil, true // a row number with no <row>: empty, as excelize has it
	}
	fr.havePend = false
	fr.formulas = fr.pendingF
	return fr.pending, true
}

// row reads the next <row> of the sheet data.
func (fr *fastRows) row() (num int, cells []string, ok bool, err error) {
	sc := &fr.sc
	for {
		tok, err := sc.next()
		if err != nil {
			return 0, nil, false, err
		}
		switch {
		case tok.kind == tokEOF:
			return 0, nil, false, nil
		case tok.kind == tokEnd && tok.name == "sheetData":
			return 0, nil, false, nil
		case tok.kind == tokStart && tok.name == "row":
			num = fr.lastNum() + 1
			if r := attr(tok.attrs, "r"); r != "" {
				n, err := strconv.Atoi(r)
				if err == nil && n != 0 {
					num = n
				}
			}
			if num > maxRows {
				return 0, nil, false, fmt.Errorf("row number exceeds maximum limit")
			}
			fr.last = num
			if tok.self {
				return num, nil, true, nil
			}
			cells, err = fr.cells()
			return num, cells, true, err
		}
	}
}

func (fr *fastRows) lastNum() int { return fr.last }

// cells reads a row's cells up to </row>.
func (fr *fastRows) cells() ([]string, error) {
	sc := &fr.sc
	var cells []string
	col := 0
	for {
		tok, err := sc.next()
		if err != nil {
			return nil, err
		}
		switch tok.kind {
		case tokEOF:
			return nil, io.ErrUnexpectedEOF
		case tokEnd:
			if tok.name == "row" {
				return cells, nil
			}
		case tokStart:
			if tok.name != "c" {
				if !tok.self {
					if err := sc.skip(); err != nil {
						return nil, err
					}
				}
				continue
			}
			col++
			if r := attr(tok.attrs, "r"); r != "" {
				c, err := column(r)
				if err != nil {
					return nil, err
				}
				col = c
			}
			typ := attr(tok.attrs, "t")
			var (
				v, is       string
				hasF, hasIS bool
			)
			if !tok.self {
				if v, is, hasF, hasIS, err = sc.cell(); err != nil {
					return nil, err
				}
			}
			val := v
			switch typ {
			case "s":
				if v != "" {
					i, _ := strconv.Atoi(strings.TrimSpace(v))
					if i < 0 || i >= len(fr.sst) {
						return nil, fmt.Errorf("invalid shared string index %d", i)
					}
					val = fr.sst[i]
				}
			case "inlineStr":
				if hasIS {
					val = bstrUnmarshal(is)
				}
			}
			if hasF && v == "" && !hasIS {
				// A formula whose result the file does not hold (written
				// by a program that does not calculate): not an empty cell.
				fr.cellF = append(fr.cellF, col-1)
			}
			if val != "" || hasF {
				blank := col - len(cells)
				for i := 1; i < blank; i++ {
					cells = append(cells, "")
				}
				cells = append(cells, val)
			}
		}
	}
}

// cell reads the inside of a <c> up to </c>.
func (sc *xmlScanner) cell() (v, is string, hasF, hasIS bool, err error) {
	for {
		tok, err := sc.next()
		if err != nil {
			return "", "", false, false, err
		}
		switch tok.kind {
		case tokEOF:
			return "", "", false, false, io.ErrUnexpectedEOF
		case tokEnd:
			if tok.name == "c" {
				return v, is, hasF, hasIS, nil
			}
		case tokStart:
			switch {
			case tok.name == "f":
				hasF = true
				if !tok.self {
					err = sc.skip()
				}
			case tok.name == "v" && !tok.self:
				v, err = sc.text()
			case tok.name == "is":
				hasIS = true
				if !tok.self {
					is, err = sc.si()
				}
			case !tok.self:
				err = sc.skip()
			}
			if err != nil {
				return "", "", false, false, err
			}
		}
	}
}

// column returns the 1-based column of a cell reference such as "AB12".
func column(ref string) (int, error) {
	col := 0
	i := 0
	for ; i < len(ref); i++ {
		c := ref[i]
		switch {
		case 'A' <= c && c <= 'Z':
			col = col*26 + int(c-'A') + 1
		case 'a' <= c && c <= 'z':
			col = col*26 + int(c-'a') + 1
		default:
			goto digits
		}
		if col > 16384 {
			return 0, fmt.Errorf("cell reference %q out of range", ref)
		}
	}
digits:
	if i == 0 || i == len(ref) {
		return 0, fmt.Errorf("bad cell reference %q", ref)
	}
	for _, c := range []byte(ref[i:]) {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad cell reference %q", ref)
		}
	}
	return col, nil
}

// attr returns the value of the attribute named name (local name) in raw.
func attr(raw []byte, name string) string {
	for len(raw) > 0 {
		raw = bytes.TrimLeft(raw, " \t\r\n")
		eq := bytes.IndexByte(raw, '=')
		if eq < 0 {
			return ""
		}
		key := bytes.TrimSpace(raw[:eq])
		if i := bytes.IndexByte(key, ':'); i >= 0 {
			key = key[i+1:]
		}
		rest := bytes.TrimLeft(raw[eq+1:], " \t\r\n")
		if len(rest) == 0 || (rest[0] != '"' && rest[0] != '\'') {
			return ""
		}
		end := bytes.IndexByte(rest[1:], rest[0])
		if end < 0 {
			return ""
		}
		if string(key) == name {
			return unescape(rest[1:1+end], false)
		}
		raw = rest[end+2:]
	}
	return ""
}

var (
	bstrExp = regexp.MustCompile(`_x[a-fA-F\d]{4}_`)
)

// bstrUnmarshal undoes Excel's _xHHHH_ escapes as excelize does.
func bstrUnmarshal(s string) (result string) {
	if !strings.Contains(s, "_x") {
		return s
	}
	matches, l, cursor := bstrExp.FindAllStringSubmatchIndex(s, -1), len(s), 0
	for _, match := range matches {
		result += s[cursor:match[0]]
		subStr := s[match[0]:match[1]]
		if subStr == "_x005F_" {
			cursor = match[1]
			result += "_"
			continue
		}
		if bstrExp.MatchString(subStr) {
			cursor = match[1]
			v, _ := strconv.Unquote(`"\u` + s[match[0]+2:match[1]-1] + `"`)
			result += v
		}
	}
	if cursor < l {
		result += s[cursor:]
	}
	return result
}

// The XML scanner: just enough of XML for worksheet parts. Tag and
// attribute names lose their namespace prefix.

const (
	tokEOF = iota
	tokStart
	tokEnd
	tokText
)

type token struct {
	kind  int
	name  string
	attrs []byte // raw, valid until the next call
	self  bool   // <x/>
	text  string
}

type xmlScanner struct {
	r       *bufio.Reader
	buf     []byte
	t, runs []byte // si's scratch
}

var errXML = errors.New("malformed XML")

// readUntil reads through delim and returns the bytes before it.
func (sc *xmlScanner) readUntil(delim byte) ([]byte, error) {
	b, err := sc.r.ReadSlice(delim)
	if err == nil {
		return b[:len(b)-1], nil
	}
	if err != bufio.ErrBufferFull {
		return nil, err
	}
	sc.buf = append(sc.buf[:0], b...)
	for {
		b, err = sc.r.ReadSlice(delim)
		sc.buf = append(sc.buf, b...)
		if err == nil {
			return sc.buf[:len(sc.buf)-1], nil
		}
		if err != bufio.ErrBufferFull {
			return nil, err
		}
	}
}

var names = map[string]string{}

func internName(b []byte) string {
	if i := bytes.IndexByte(b, ':'); i >= 0 {
		b = b[i+1:]
	}
	if s, ok := names[string(b)]; ok {
		return s
	}
	return string(b)
}

func init() {
	for _, n := range []string{"row", "c", "v", "f", "is", "t", "r", "rPh", "si", "sst", "sheetData", "worksheet", "rPr"} {
		names[n] = n
	}
}

func (sc *xmlScanner) next() (token, error) {
	for {
		c, err := sc.r.ReadByte()
		if err == io.EOF {
			return token{kind: tokEOF}, nil
		}
		if err != nil {
			return token{}, err
		}
		if c != '<' {
			sc.r.UnreadByte()
			b, err := sc.readUntil('<')
			if err == io.EOF {
				return token{kind: tokEOF}, nil // trailing text after the root
			}
			if err != nil {
				return token{}, err
			}
			sc.r.UnreadByte()
			return token{kind: tokText, text: unescape(b, true)}, nil
		}
		c, err = sc.r.ReadByte()
		if err != nil {
			return token{}, errXML
		}
		switch c {
		case '/':
			b, err := sc.readUntil('>')
			if err != nil {
				return token{}, errXML
			}
			return token{kind: tokEnd, name: internName(bytes.TrimSpace(b))}, nil
		case '?':
			if err := sc.skipThrough("?>"); err != nil {
				return token{}, err
			}
			continue
		case '!':
			peek, _ := sc.r.Peek(7)
			switch {
			case bytes.HasPrefix(peek, []byte("--")):
				if err := sc.skipThrough("-->"); err != nil {
					return token{}, err
				}
				continue
			case bytes.HasPrefix(peek, []byte("[CDATA[")):
				sc.r.Discard(7)
				b, err := sc.readThrough("]]>")
				if err != nil {
					return token{}, err
				}
				return token{kind: tokText, text: string(b)}, nil
			}
			return token{}, fmt.Errorf("%w: DOCTYPE or declaration", errXML)
		}
		sc.r.UnreadByte()
		b, err := sc.readUntil('>')
		if err != nil {
			return token{}, errXML
		}
		// A '>' inside a quoted attribute value: read on.
		for quotesOpen(b) {
			more, err := sc.readUntil('>')
			if err != nil {
				return token{}, errXML
			}
			b = append(append(append([]byte(nil), b...), '>'), more...)
		}
		t := token{kind: tokStart}
		if len(b) > 0 && b[len(b)-1] == '/' {
			t.self = true
			b = b[:len(b)-1]
		}
		i := bytes.IndexAny(b, " \t\r\n")
		if i < 0 {
			i = len(b)
		}
		t.name = internName(b[:i])
		t.attrs = b[i:]
		return t, nil
	}
}

func quotesOpen(b []byte) bool {
	var q byte
	for _, c := range b {
		switch {
		case q == 0 && (c == '"' || c == '\''):
			q = c
		case q != 0 && c == q:
			q = 0
		}
	}
	return q != 0
}

func (sc *xmlScanner) readThrough(end string) ([]byte, error) {
	var out []byte
	for {
		b, err := sc.readUntil(end[len(end)-1])
		if err != nil {
			return nil, errXML
		}
		out = append(out, b...)
		if bytes.HasSuffix(out, []byte(end[:len(end)-1])) {
			return out[:len(out)-len(end)+1], nil
		}
		out = append(out, end[len(end)-1])
	}
}

func (sc *xmlScanner) skipThrough(end string) error {
	_, err := sc.readThrough(end)
	return err
}

// skip reads past the end of the element just started.
func (sc *xmlScanner) skip() error {
	depth := 1
	for {
		tok, err := sc.next()
		if err != nil {
			return err
		}
		switch tok.kind {
		case tokEOF:
			return io.ErrUnexpectedEOF
		case tokStart:
			if !tok.self {
				depth++
			}
		case tokEnd:
			if depth--; depth == 0 {
				return nil
			}
		}
	}
}

// text reads an element's text up to its end tag.
func (sc *xmlScanner) text() (string, error) {
	var s string
	n := 0
	for {
		tok, err := sc.next()
		if err != nil {
			return "", err
		}
		switch tok.kind {
		case tokEOF:
			return "", io.ErrUnexpectedEOF
		case tokText:
			if n == 0 {
				s = tok.text
			} else {
				s += tok.text
			}
			n++
		case tokStart:
			if !tok.self {
				if err := sc.skip(); err != nil {
					return "", err
				}
			}
		case tokEnd:
			return s, nil
		}
	}
}

// unescape decodes entities and character references and, in text, turns
// \r\n and \r into \n, as encoding/xml does.
func unescape(b []byte, text bool) string {
	if bytes.IndexByte(b, '&') < 0 && (!text || bytes.IndexByte(b, '\r') < 0) {
		return string(b)
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '\r' && text:
			out = append(out, '\n')
			if i+1 < len(b) && b[i+1] == '\n' {
				i++
			}
		case c == '&':
			end := bytes.IndexByte(b[i:], ';')
			if end < 0 {
				out = append(out, c)
				continue
			}
			ent := string(b[i+1 : i+end])
			var r rune = -1
			switch ent {
			case "lt":
				r = '<'
			case "gt":
				r = '>'
			case "amp":
				r = '&'
			case "quot":
				r = '"'
			case "apos":
				r = '\''
			default:
				if strings.HasPrefix(ent, "#x") {
					if n, err := strconv.ParseUint(ent[2:], 16, 32); err == nil {
						r = rune(n)
					}
				} else if strings.HasPrefix(ent, "#") {
					if n, err := strconv.ParseUint(ent[1:], 10, 32); err == nil {
						r = rune(n)
					}
				}
			}
			if r < 0 || !utf8.ValidRune(r) {
				out = append(out, c)
				continue
			}
			out = utf8.AppendRune(out, r)
			i += end
		default:
			out = append(out, c)
		}
	}
	return string(out)
}
