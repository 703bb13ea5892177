package catalog

import (
	"fmt"
	"math/rand/v2"
	"strings"
)

// GenDepartment is a department the generator writes items for.
type GenDepartment struct {
	Name string // full name, e.g. 襄阳市公安局
	Code string // 统一社会信用代码
}

// Generated is one generated item with its provider's name and code, ready
// to be written as a row of the catalogue workbook.
type Generated struct {
	Item
	ProviderCode string
	LibraryNames []string
}

// subject is a kind of data a department keeps, with its library and fields.
type subject struct {
	dept   string // department name suffix it belongs to
	name   string // e.g. 户籍人口
	lib    string // library name, "" for the department's own catalogue
	fields []Field
}

func fl(name, code, typ string, length int, personal bool) Field {
	return Field{Name: name, Code: code, DataType: typ, Length: length, Personal: personal, Sensitive: personal && (code == "gmsfhm" || code == "lxdh" || code == "id_number")}
}

var (
	person = []Field{fl("姓名", "xm", "字符型", 50, true), fl("公民身份号码", "gmsfhm", "字符型", 18, true), fl("性别", "xb", "字符型", 2, true),
		fl("出生日期", "csrq", "日期型", 0, true), fl("民族", "mz", "字符型", 20, true), fl("联系电话", "lxdh", "字符型", 20, true), fl("户籍地址", "hjdz", "字符型", 200, true)}
	org = []Field{fl("单位名称", "dwmc", "字符型", 200, false), fl("统一社会信用代码", "tyshxydm", "字符型", 18, false), fl("法定代表人", "fddbr", "字符型", 50, true),
		fl("注册地址", "zcdz", "字符型", 200, false), fl("成立日期", "clrq", "日期型", 0, false), fl("经营范围", "jyfw", "字符型", 2000, false)}
	affair = []Field{fl("办件编号", "bjbh", "字符型", 32, false), fl("受理日期", "slrq", "日期型", 0, false), fl("办结日期", "bjrq", "日期型", 0, false),
		fl("办理结果", "bljg", "字符型", 20, false), fl("经办机构", "jbjg", "字符型", 100, false), fl("审批文号", "spwh", "字符型", 50, false), fl("有效期至", "yxqz", "日期型", 0, false)}
	place = []Field{fl("行政区划代码", "xzqhdm", "字符型", 12, false), fl("坐落", "zl", "字符型", 200, false), fl("经度", "jd", "数值型", 12, false), fl("纬度", "wd", "数值型", 12, false)}
	stat  = []Field{fl("统计年度", "tjnd", "字符型", 4, false), fl("统计期", "tjq", "字符型", 10, false), fl("指标名称", "zbmc", "字符型", 100, false), fl("指标值", "zbz", "数值型", 18, false), fl("计量单位", "jldw", "字符型", 20, false)}
)

func with(base []Field, extra ...Field) []Field { return append(append([]Field{}, extra...), base...) }

var subjects = []subject{
	{"公安局", "户籍人口", "人口基础库", with(person, fl("户号", "hh", "字符型", 20, true), fl("与户主关系", "yhzgx", "字符型", 20, true))},
	{"公安局", "居民身份证", "电子证照基础库", with(person, fl("签发机关", "qfjg", "字符型", 100, false), fl("有效期限", "yxqx", "字符型", 30, false))},
	{"公安局", "流动人口居住登记", "人口基础库", with(person, fl("居住地址", "jzdz", "字符型", 200, true), fl("居住事由", "jzsy", "字符型", 50, false))},
	{"公安局", "出入境证件", "", with(person, fl("证件类型", "zjlx", "字符型", 20, false), fl("证件号码", "zjhm", "字符型", 30, true))},
	{"公安局", "机动车驾驶人", "交通出行主题库", with(person, fl("准驾车型", "zjcx", "字符型", 10, false), fl("初次领证日期", "cclzrq", "日期型", 0, false))},
	{"民政局", "婚姻登记", "民政服务主题库", with(person, fl("登记类别", "djlb", "字符型", 10, false), fl("登记日期", "djrq", "日期型", 0, false), fl("结婚证字号", "jhzzh", "字符型", 30, false))},
	{"民政局", "最低生活保障对象", "社会保障主题库", with(person, fl("保障金额", "bzje", "数值型", 12, false), fl("保障起始年月", "bzqsny", "字符型", 6, false))},
	{"民政局", "社会组织登记", "法人基础库", with(org, fl("业务主管单位", "ywzgdw", "字符型", 100, false))},
	{"民政局", "殡葬服务", "民政服务主题库", with(person, fl("死亡日期", "swrq", "日期型", 0, true), fl("火化日期", "hhrq", "日期型", 0, false))},
	{"卫生健康委员会", "出生医学证明", "医疗健康主题库", with(person, fl("出生医学证明编号", "csyxzmbh", "字符型", 20, false), fl("出生地点", "csdd", "字符型", 100, false))},
	{"卫生健康委员会", "医疗机构执业许可", "医疗健康主题库", with(org, fl("诊疗科目", "zlkm", "字符型", 500, false), fl("床位数", "cws", "数值型", 6, false))},
	{"卫生健康委员会", "预防接种", "医疗健康主题库", with(person, fl("疫苗名称", "ymmc", "字符型", 100, false), fl("接种日期", "jzrq", "日期型", 0, true))},
	{"住房和城市更新局", "住房公积金缴存", "住房保障主题库", with(person, fl("缴存基数", "jcjs", "数值型", 12, true), fl("账户余额", "zhye", "数值型", 14, true))},
	{"住房和城市更新局", "保障性住房", "住房保障主题库", with(person, fl("房源编号", "fybh", "字符型", 30, false), fl("租金标准", "zjbz", "数值型", 10, false))},
	{"住房和城市更新局", "商品房预售许可", "不动产主题库", with(affair, fl("项目名称", "xmmc", "字符型", 200, false), fl("预售面积", "ysmj", "数值型", 12, false))},
	{"人力资源和社会保障局", "社会保险参保", "社会保障主题库", with(person, fl("险种类型", "xzlx", "字符型", 20, false), fl("参保状态", "cbzt", "字符型", 10, false))},
	{"人力资源和社会保障局", "就业登记", "就业创业主题库", with(person, fl("就业单位", "jydw", "字符型", 200, false), fl("就业日期", "jyrq", "日期型", 0, false))},
	{"人力资源和社会保障局", "职业技能等级证书", "电子证照基础库", with(person, fl("职业名称", "zymc", "字符型", 100, false), fl("技能等级", "jndj", "字符型", 10, false))},
	{"市场监督管理局", "市场主体登记", "法人基础库", with(org, fl("登记机关", "djjg", "字符型", 100, false), fl("登记状态", "djzt", "字符型", 10, false))},
	{"市场监督管理局", "食品经营许可", "市场监管主题库", with(org, fl("许可证编号", "xkzbh", "字符型", 30, false), fl("经营项目", "jyxm", "字符型", 500, false))},
	{"市场监督管理局", "行政处罚", "社会信用基础库", with(org, fl("处罚决定书文号", "cfjdswh", "字符型", 50, false), fl("处罚内容", "cfnr", "字符型", 1000, false))},
	{"税务局", "纳税人登记", "法人基础库", with(org, fl("纳税人识别号", "nsrsbh", "字符型", 20, false), fl("主管税务机关", "zgswjg", "字符型", 100, false))},
	{"税务局", "纳税信用等级", "社会信用基础库", with(org, fl("评价年度", "pjnd", "字符型", 4, false), fl("信用等级", "xydj", "字符型", 2, false))},
	{"自然资源和规划局", "国土空间规划", "自然资源和空间地理基础库", with(place, fl("规划名称", "ghmc", "字符型", 200, false), fl("用地性质", "ydxz", "字符型", 50, false))},
	{"自然资源和规划局", "建设用地规划许可", "自然资源和空间地理基础库", with(affair, fl("用地单位", "yddw", "字符型", 200, false), fl("用地面积", "ydmj", "数值型", 14, false))},
	{"不动产登记中心", "不动产登记", "不动产主题库", with(person, fl("不动产单元号", "bdcdyh", "字符型", 28, false), fl("不动产权证号", "bdcqzh", "字符型", 50, false), fl("坐落", "zl", "字符型", 200, false))},
	{"不动产登记中心", "不动产抵押", "不动产主题库", with(affair, fl("不动产单元号", "bdcdyh", "字符型", 28, false), fl("抵押权人", "dyqr", "字符型", 200, false), fl("被担保债权数额", "bdbzqse", "数值型", 14, false))},
	{"教育局", "学籍", "教育主题库", with(person, fl("学校名称", "xxmc", "字符型", 200, false), fl("年级", "nj", "字符型", 10, false), fl("入学日期", "rxrq", "日期型", 0, false))},
	{"教育局", "教师资格", "教育主题库", with(person, fl("资格种类", "zgzl", "字符型", 50, false), fl("任教学科", "rjxk", "字符型", 50, false))},
	{"交通运输局", "道路运输经营许可", "交通出行主题库", with(org, fl("经营范围", "jyfw2", "字符型", 500, false), fl("许可证号", "xkzh", "字符型", 30, false))},
	{"交通运输局", "公交线路", "交通出行主题库", with(place, fl("线路名称", "xlmc", "字符型", 50, false), fl("首末班时间", "smbsj", "字符型", 20, false))},
	{"医疗保障局", "医保参保", "医疗健康主题库", with(person, fl("参保类型", "cblx", "字符型", 20, false), fl("参保日期", "cbrq", "日期型", 0, true))},
	{"医疗保障局", "医保结算", "医疗健康主题库", with(person, fl("结算日期", "jsrq", "日期型", 0, true), fl("医疗总费用", "ylzfy", "数值型", 12, true), fl("统筹支付", "tczf", "数值型", 12, true))},
	{"退役军人事务局", "退役军人", "社会保障主题库", with(person, fl("入伍时间", "rwsj", "日期型", 0, true), fl("退役时间", "tysj", "日期型", 0, true))},
	{"司法局", "律师执业", "社会信用基础库", with(person, fl("执业证号", "zyzh", "字符型", 20, false), fl("执业机构", "zyjg", "字符型", 200, false))},
	{"司法局", "法律援助", "", with(affair, fl("援助事项", "yzsx", "字符型", 200, false))},
	{"应急管理局", "安全生产许可", "应急管理主题库", with(org, fl("许可范围", "xkfw", "字符型", 500, false), fl("证书编号", "zsbh", "字符型", 30, false))},
	{"应急管理局", "应急物资储备", "应急管理主题库", with(place, fl("物资名称", "wzmc", "字符型", 100, false), fl("储备数量", "cbsl", "数值型", 12, false))},
	{"生态环境局", "排污许可", "生态环境主题库", with(org, fl("排污许可证编号", "pwxkzbh", "字符型", 30, false), fl("主要污染物", "zywrw", "字符型", 200, false))},
	{"生态环境局", "空气质量监测", "生态环境主题库", with(place, fl("监测时间", "jcsj", "日期时间型", 0, false), fl("AQI", "aqi", "数值型", 6, false), fl("PM2.5浓度", "pm25", "数值型", 8, false))},
	{"农业农村局", "农村土地承包经营权", "自然资源和空间地理基础库", with(person, fl("承包地块编码", "cbdkbm", "字符型", 30, false), fl("承包面积", "cbmj", "数值型", 10, false))},
	{"商务局", "对外贸易经营者备案", "市场监管主题库", with(org, fl("备案登记表编号", "badjbbh", "字符型", 30, false))},
	{"文化和旅游局", "A级旅游景区", "文化旅游主题库", with(place, fl("景区名称", "jqmc", "字符型", 200, false), fl("景区等级", "jqdj", "字符型", 5, false))},
	{"文化和旅游局", "旅行社经营许可", "文化旅游主题库", with(org, fl("许可证号", "xkzh", "字符型", 30, false))},
	{"城市管理执法委员会", "城市管理行政处罚", "社会信用基础库", with(affair, fl("当事人", "dsr", "字符型", 200, true), fl("违法事实", "wfss", "字符型", 1000, false))},
	{"财政局", "财政预算执行", "宏观经济基础库", with(stat, fl("预算单位", "ysdw", "字符型", 200, false))},
	{"发展和改革委员会", "固定资产投资项目", "宏观经济基础库", with(affair, fl("项目代码", "xmdm", "字符型", 24, false), fl("总投资", "ztz", "数值型", 14, false))},
	{"发展和改革委员会", "地区生产总值", "宏观经济基础库", stat},
	{"经济和信息化局", "规模以上工业企业", "宏观经济基础库", with(org, fl("工业总产值", "gyzcz", "数值型", 14, false))},
	{"政务服务和大数据管理局", "政务服务事项", "", with(affair, fl("事项编码", "sxbm", "字符型", 40, false), fl("事项名称", "sxmc", "字符型", 200, false))},
	{"政务服务和大数据管理局", "好差评", "", with(affair, fl("评价等级", "pjdj", "字符型", 10, false), fl("评价内容", "pjnr", "字符型", 500, false))},
}

// Record kinds make one subject into several items.
var recordKinds = []string{"基本信息", "登记信息", "变更信息", "注销信息", "审批信息", "年度统计信息", "办理结果信息", "历史信息", "电子证照信息", "核验信息", "明细信息", "汇总信息"}

var countySubjects = []string{"最低生活保障对象", "婚姻登记", "户籍人口", "不动产登记", "社会保险参保", "学籍", "预防接种", "食品经营许可", "排污许可", "农村土地承包经营权", "政务服务事项", "应急物资储备"}

var (
	libraryOrder = []string{"人口基础库", "法人基础库", "自然资源和空间地理基础库", "社会信用基础库", "电子证照基础库", "宏观经济基础库",
		"医疗健康主题库", "社会保障主题库", "教育主题库", "不动产主题库", "市场监管主题库", "交通出行主题库", "民政服务主题库",
		"住房保障主题库", "就业创业主题库", "生态环境主题库", "文化旅游主题库", "应急管理主题库"}
	cycles = []string{"实时", "每日", "每日", "每周", "每月", "每月", "每季度", "每年", "不定期"}
)

// DemoPopulationCode is the code of the demo's population item, which the
// demo grant names. Its fields use the codes the grant lists.
const DemoPopulationCode = "101001-000001"

// Generate makes n realistic catalogue items across deps, the same for the
// same seed: each city department gets items about the subjects it keeps
// (户籍人口 for 公安局, 婚姻登记 for 民政局 ...), counties and districts
// get local ones, every base and theme library is used, and each item has
// its fields. Codes follow the classification: 类 1 base, 2 theme, 3 a
// department's own catalogue; 项 the library or department; 目 the subject.
func Generate(n int, seed uint64, deps []GenDepartment) []Generated {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	type owner struct {
		dep  GenDepartment
		idx  int
		subj []subject
		pre  string
	}
	var owners []owner
	for i, d := range deps {
		o := owner{dep: d, idx: i + 1}
		for _, s := range subjects {
			if strings.HasSuffix(d.Name, s.dept) {
				o.subj = append(o.subj, s)
			}
		}
		if len(o.subj) == 0 && (strings.HasSuffix(d.Name, "区") || strings.HasSuffix(d.Name, "县") || strings.HasSuffix(d.Name, "市") || strings.HasSuffix(d.Name, "洲")) && !strings.HasPrefix(d.Name, "襄阳市") {
			for _, name := range countySubjects {
				for _, s := range subjects {
					if s.name == name {
						o.subj = append(o.subj, s)
					}
				}
			}
			o.pre = d.Name
		}
		if len(o.subj) > 0 {
			owners = append(owners, o)
		}
	}
	if len(owners) == 0 {
		return nil
	}
	seq := map[string]int{}
	used := map[string]bool{}
	out := make([]Generated, 0, n)
	qualifiers := []string{"", "（市本级）", "（历史库）", "（共享版）", "（明细）", "（汇总）", "（归档）", "（标准版）"}
	for k := 0; len(out) < n; k++ {
		o := owners[k%len(owners)]
		si := (k / len(owners)) % len(o.subj)
		s := o.subj[si]
		kind := recordKinds[(k/(len(owners)*len(o.subj)))%len(recordKinds)]
		round := k / (len(owners) * len(o.subj) * len(recordKinds))
		name := o.pre + s.name + kind
		if round < len(qualifiers) {
			name += qualifiers[round]
		} else {
			name += fmt.Sprintf("（第%d批）", round)
		}
		key := o.dep.Name + "/" + name
		if used[key] {
			continue
		}
		used[key] = true
		g := Generated{ProviderCode: o.dep.Code}
		g.ProviderName = o.dep.Name
		c := &g.Content
		c.Name = name
		li := indexOf(libraryOrder, s.lib)
		switch {
		case li >= 0 && li < 6:
			c.Lei, c.Xiang = "1", fmt.Sprintf("%02d", li+1)
		case li >= 6:
			c.Lei, c.Xiang = "2", fmt.Sprintf("%02d", li-5)
		default:
			c.Lei, c.Xiang = "3", fmt.Sprintf("%02d", o.idx%100)
		}
		c.Mu = fmt.Sprintf("%03d", indexOfSubject(s)+1)
		if s.lib != "" {
			g.LibraryNames = []string{s.lib}
			if r.IntN(4) == 0 {
				if other := libraryOrder[r.IntN(len(libraryOrder))]; other != s.lib {
					g.LibraryNames = append(g.LibraryNames, other)
				}
			}
		}
		where := o.dep.Name
		c.Summary = fmt.Sprintf("%s掌握的%s%s，包括%s等，供全市各部门在办理相关政务服务事项时依法共享使用。", where, s.name, kind, fieldNames(s.fields, 3))
		c.Format = []string{"数据库", "数据库", "接口", "电子表格", "电子文件"}[r.IntN(5)]
		c.OpenType = []string{"不予开放", "不予开放", "有条件开放", "无条件开放"}[r.IntN(4)]
		c.UpdateCycle = cycles[r.IntN(len(cycles))]
		personal := s.fields[0].Personal
		switch x := r.IntN(10); {
		case personal && x < 7 || x < 4:
			c.ShareType, c.ShareMethod = ShareConditional, "接口服务"
			c.ShareCondition = "仅限办理" + s.name + "相关政务服务事项时核验使用，不得用于其他目的"
			c.LegalBasis = []string{"《中华人民共和国个人信息保护法》第十三条", "《政务信息资源共享管理暂行办法》（国发〔2016〕51号）", "《湖北省政务数据资源应用与管理办法》"}[r.IntN(3)]
		case x == 9:
			c.ShareType = ShareNone
			c.LegalBasis = "《中华人民共和国保守国家秘密法》及部门相关规定"
		default:
			c.ShareType = ShareUnconditional
			c.ShareMethod = []string{"接口服务", "库表交换", "文件下载", "在线查询"}[r.IntN(4)]
		}
		c.PublishDate = fmt.Sprintf("20%02d-%02d-%02d", 19+r.IntN(6), 1+r.IntN(12), 1+r.IntN(28))
		c.Fields = append([]Field{}, s.fields...)
		c.Normalize()
		prefix := c.Classification()
		seq[prefix]++
		g.Code = fmt.Sprintf("%s-%06d", prefix, seq[prefix])
		out = append(out, g)
	}
	// The demo grant's item: 公安局's population data with the grant's field codes.
	for i := range out {
		if out[i].Code == DemoPopulationCode {
			f := out[i].Fields
			rename := map[string]string{"xm": "name", "xb": "gender", "csrq": "birth_date", "hjdz": "household_address", "gmsfhm": "id_number"}
			for j := range f {
				if v, ok := rename[f[j].Code]; ok {
					f[j].Code = v
				}
			}
		}
	}
	return out
}

func indexOf(l []string, s string) int {
	for i, x := range l {
		if x == s {
			return i
		}
	}
	return -1
}

func indexOfSubject(s subject) int {
	for i := range subjects {
		if subjects[i].name == s.name && subjects[i].dept == s.dept {
			return i
		}
	}
	return 0
}

func fieldNames(fs []Field, n int) string {
	var names []string
	for i := 0; i < len(fs) && i < n; i++ {
		names = append(names, fs[i].Name)
	}
	return strings.Join(names, "、")
}

// Row returns g as a row of the items sheet.
func (g *Generated) Row() []string {
	it := g.Item
	libs := list(g.LibraryNames)
	row := itemRow(&it, g.ProviderCode, nil)
	row[17] = libs
	return row
}

// FieldRows returns g's fields as rows of the fields sheet.
func (g *Generated) FieldRows() [][]string {
	out := make([][]string, len(g.Fields))
	for i, f := range g.Fields {
		out[i] = fieldRow(g.Code, g.Name, f)
	}
	return out
}
