package licence

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/xiangyang-gov/sharehub/internal/ident"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

// Generated data: realistic licences for tests, demos and benchmarks.

// GenerateOptions tune Generate.
type GenerateOptions struct {
	Count int
	Seed  uint64
	// IssuerCode gives each department's 统一社会信用代码.
	IssuerCode func(deptID string) string
	// Types limits the types used (default: the whole catalogue).
	Types []Type
}

// Xiangyang's county-level divisions (for holder ids, addresses, regions).
var divisions = []struct{ code, name string }{
	{"420602", "襄城区"}, {"420606", "樊城区"}, {"420607", "襄州区"}, {"420624", "南漳县"}, {"420625", "谷城县"},
	{"420626", "保康县"}, {"420682", "老河口市"}, {"420683", "枣阳市"}, {"420684", "宜城市"},
}

var (
	surnames = []rune("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢")
	given    = []rune("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬燕彬鹏辉建国文博子涵浩然欣怡梓轩雨萱思远")
	streets  = []string{"檀溪路", "长征路", "人民路", "春园路", "解放路", "襄阳大道", "汉江北路", "长虹路", "航空路", "追日路", "卧龙大道", "隆中路"}
	firms    = []string{"汉江", "隆中", "古隆", "鹿门", "岘山", "襄水", "楚都", "米公", "荆襄", "鱼梁"}
	trades   = []string{"物流", "商贸", "食品", "建设工程", "机械制造", "餐饮管理", "医药连锁", "汽车零部件", "农业科技", "文化传媒"}
	forms    = []string{"有限公司", "有限责任公司", "股份有限公司"}
)

// weight makes the big types big: identity cards, driving licences,
// business licences, property titles, marriage and birth certificates.
var weight = map[string]int{"居民身份证": 120, "机动车驾驶证": 40, "营业执照": 30, "不动产权证书": 40, "结婚证": 20, "出生医学证明": 10,
	"社会保障卡": 60, "个体工商户营业执照": 20, "食品经营许可证": 6, "机动车行驶证": 30, "户口簿": 20, "居住证": 8}

// Generate writes count licences as CSV in the import format (Spec): at
// least one of every type (of the catalogue, or of opts.Types) when count
// is at least the number of types, the rest drawn by how common each type
// is.
func Generate(w io.Writer, opts GenerateOptions) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	cw := csv.NewWriter(bw)
	hdr := make([]string, 0, len(Spec.Sheets[0].Columns))
	for _, c := range Spec.Sheets[0].Columns {
		hdr = append(hdr, c.Header)
	}
	if err := cw.Write(hdr); err != nil {
		return err
	}
	err := generate(opts, func(rec []string) error { return cw.Write(rec) })
	if err != nil {
		return err
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	return bw.Flush()
}

// GenerateXLSX writes the licences Generate writes as an xlsx workbook,
// streamed.
func GenerateXLSX(w io.Writer, opts GenerateOptions) error {
	sw, err := sheet.NewWriter(Spec, sheet.WriterOptions{NoValidation: true})
	if err != nil {
		return err
	}
	defer sw.Close()
	if err := generate(opts, func(rec []string) error { return sw.Append(SheetName, rec) }); err != nil {
		return err
	}
	_, err = sw.WriteTo(w)
	return err
}

// MaxXLSXRows is how many licences GenerateXLSXFiles puts in one
// workbook: a sheet holds 1,048,576 rows, the header included.
const MaxXLSXRows = 1_000_000

// GenerateXLSXFiles writes the licences Generate writes (the same ones, in
// the same order, for the same options) as xlsx workbooks of at most
// perFile licences each (MaxXLSXRows when perFile is not in 1..MaxXLSXRows), since
// one sheet cannot hold 2.4 million rows: workbook i (from 1) goes to
// create(i), which the function closes. It returns how many it wrote.
func GenerateXLSXFiles(create func(part int) (io.WriteCloser, error), perFile int, opts GenerateOptions) (int, error) {
	if perFile <= 0 || perFile > MaxXLSXRows {
		perFile = MaxXLSXRows
	}
	var (
		sw    *sheet.Writer
		rows  int
		parts int
	)
	finish := func() error {
		if sw == nil {
			return nil
		}
		w, err := create(parts)
		if err == nil {
			_, err = sw.WriteTo(w)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
		}
		sw.Close()
		sw = nil
		return err
	}
	defer func() {
		if sw != nil {
			sw.Close()
		}
	}()
	err := generate(opts, func(rec []string) error {
		if sw == nil || rows == perFile {
			if err := finish(); err != nil {
				return err
			}
			var err error
			if sw, err = sheet.NewWriter(Spec, sheet.WriterOptions{NoValidation: true}); err != nil {
				return err
			}
			parts++
			rows = 0
		}
		rows++
		return sw.Append(SheetName, rec)
	})
	if err == nil {
		err = finish()
	}
	return parts, err
}

func generate(opts GenerateOptions, emit func([]string) error) error {
	types := opts.Types
	if types == nil {
		var err error
		if types, err = Catalogue(opts.IssuerCode); err != nil {
			return err
		}
	}
	cum := make([]int, len(types))
	total := 0
	for i, t := range types {
		wt := weight[t.Name]
		if wt == 0 {
			wt = 1
		}
		total += wt
		cum[i] = total
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	seq := make([]int, len(types))
	rec := make([]string, len(Spec.Sheets[0].Columns))
	face := map[string]string{}
	// The file starts with one licence of every type, in catalogue order,
	// so that even a small file has them all (as far as count allows);
	// then rows go out type by type in runs, as registries export them,
	// the types drawn by weight.
	for done := 0; done < opts.Count; {
		ti, run := done, 1
		if done >= len(types) {
			x := rng.IntN(total)
			ti = 0
			for cum[ti] <= x {
				ti++
			}
			run = min(opts.Count-done, 1+rng.IntN(min(max(opts.Count/100, 1), 1000)))
		}
		t := &types[ti]
		issuer := opts.IssuerCode(t.IssuerIDs[0])
		for k := 0; k < run; k++ {
			seq[ti]++
			div := divisions[rng.IntN(len(divisions))]
			issued := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(9300))
			clear(face)
			var name, id string
			if t.HolderKind == HolderPerson {
				female := rng.IntN(2) == 0
				birth := time.Date(1940, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(23000))
				id = ident.NewResidentID(div.code, birth, 1+rng.IntN(999), female)
				name = string(surnames[rng.IntN(len(surnames))]) + string(given[rng.IntN(len(given))])
				if rng.IntN(2) == 0 {
					name += string(given[rng.IntN(len(given))])
				}
				if issued.Before(birth) {
					issued = birth.AddDate(0, 0, 30)
				}
			} else {
				id = ident.NewCreditCode('9', '1', div.code, uint64(ti)<<32|uint64(seq[ti]))
				name = "襄阳" + firms[rng.IntN(len(firms))] + trades[rng.IntN(len(trades))] + forms[rng.IntN(len(forms))]
			}
			if issued.After(time.Now()) {
				issued = time.Now().AddDate(0, 0, -1)
			}
			for _, f := range t.Fields {
				if !f.Required && rng.IntN(3) == 0 {
					continue
				}
				face[f.Code] = fakeValue(rng, f, div.name, name)
			}
			fj, _ := json.Marshal(face)
			rec[0] = t.Code
			rec[1] = fmt.Sprintf("%s%04d%07d", div.code, issued.Year(), seq[ti])
			rec[2] = issuer
			rec[3] = name
			rec[4] = t.HolderKind.HolderIDType()
			rec[5] = id
			rec[6] = issued.Format(time.DateOnly)
			rec[7] = ""
			rec[8] = ""
			rec[9] = div.code
			rec[10] = string(fj)
			if err := emit(rec); err != nil {
				return err
			}
		}
		done += run
	}
	return nil
}

func fakeValue(rng *rand.Rand, f Field, district, holder string) string {
	switch f.Format {
	case FormatEnum:
		return f.Choices[rng.IntN(len(f.Choices))]
	case FormatDate:
		return time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(20000)).Format(time.DateOnly)
	case FormatNumber:
		return strconv.Itoa(50 + rng.IntN(5000))
	}
	switch {
	case strings.Contains(f.Name, "姓名") || strings.Contains(f.Name, "代表人") || strings.Contains(f.Name, "负责人"):
		return string(surnames[rng.IntN(len(surnames))]) + string(given[rng.IntN(len(given))]) + string(given[rng.IntN(len(given))])
	case strings.Contains(f.Name, "址") || strings.Contains(f.Name, "坐落") || strings.Contains(f.Name, "场所") || strings.Contains(f.Name, "住所"):
		return "湖北省襄阳市" + district + streets[rng.IntN(len(streets))] + strconv.Itoa(1+rng.IntN(300)) + "号"
	case strings.Contains(f.Name, "单元号"):
		return fmt.Sprintf("420602%06dGB%05dF%08d", rng.IntN(1000000), rng.IntN(100000), rng.IntN(100000000))
	case strings.Contains(f.Name, "身份证"):
		return ident.NewResidentID("420602", time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, rng.IntN(12000)), 1+rng.IntN(999), rng.IntN(2) == 0)
	case strings.Contains(f.Name, "机构") || strings.Contains(f.Name, "机关"):
		return "襄阳市" + district + "民政局婚姻登记处"
	}
	return trades[rng.IntN(len(trades))] + "相关业务"
}
