package licence

import (
	"fmt"
	"strconv"
	"strings"
)

// The built-in catalogue of licence types the demo and the generator use:
// 224 types with the names Chinese e-licence registries carry, each
// defined and issued by the city department that issues it in Xiangyang.
// Line format: name|holder kind (p person, o organisation)|validity years.
var catalogueText = map[string]string{
	"xy-gaj": `居民身份证|p|20
机动车驾驶证|p|6
居住证|p|0
机动车行驶证|p|0
机动车登记证书|p|0
户口簿|p|0
往来港澳通行证|p|10
普通护照|p|10
犬只登记证|p|1
临时身份证明|p|0
无犯罪记录证明|p|0
剧毒化学品购买许可证|o|1
民用爆炸物品购买许可证|o|1
烟花爆竹道路运输许可证|o|1
保安服务许可证|o|0
旅馆业特种行业许可证|o|0
公章刻制业特种行业许可证|o|0
易制毒化学品购买备案证明|o|1`,
	"xy-mzj": `结婚证|p|0
离婚证|p|0
收养登记证|p|0
残疾人证|p|10
最低生活保障证|p|1
特困人员救助供养证|p|1
社会团体法人登记证书|o|5
民办非企业单位登记证书|o|5
基金会法人登记证书|o|5
养老机构备案回执|o|0
慈善组织公开募捐资格证书|o|0
殡葬服务单位经营许可证|o|3`,
	"xy-wjw": `出生医学证明|p|0
医师执业证书|p|0
护士执业证书|p|5
预防接种证|p|0
死亡医学证明|p|0
乡村医生执业证书|p|5
医疗机构执业许可证|o|5
公共场所卫生许可证|o|4
放射诊疗许可证|o|4
母婴保健技术服务执业许可证|o|3
消毒产品生产企业卫生许可证|o|4
饮用水供水单位卫生许可证|o|4
职业健康检查机构备案回执|o|0
医疗广告审查证明|o|1`,
	"xy-scjgj": `营业执照|o|0
食品经营许可证|o|5
食品生产许可证|o|5
药品经营许可证|o|5
医疗器械经营许可证|o|5
第二类医疗器械经营备案凭证|o|0
特种设备使用登记证|o|0
特种设备安全管理和作业人员证|p|4
工业产品生产许可证|o|5
计量器具型式批准证书|o|0
小餐饮经营许可证|o|3
食品小作坊登记证|o|3
个体工商户营业执照|o|0
农民专业合作社营业执照|o|0
检验检测机构资质认定证书|o|6
烟草专卖零售许可证|o|5
广告发布登记证|o|0
执业药师注册证|p|5`,
	"xy-zrzyghj": `建设用地规划许可证|o|0
建设工程规划许可证|o|2
乡村建设规划许可证|p|2
采矿许可证|o|10
探矿权勘查许可证|o|5
测绘资质证书|o|5
建设项目用地预审与选址意见书|o|3
取水许可证|o|5
河道采砂许可证|o|1
林木采伐许可证|o|1
使用林地审核同意书|o|2`,
	"xy-bdcdjzx": `不动产权证书|p|0
不动产登记证明|p|0
不动产权证书（单位）|o|0
预告登记证明|p|0`,
	"xy-zxj": `建筑工程施工许可证|o|0
商品房预售许可证|o|0
建筑业企业资质证书|o|5
房地产开发企业资质证书|o|3
建筑施工企业安全生产许可证|o|3
建筑施工特种作业操作资格证书|p|2
物业服务企业备案证明|o|0
燃气经营许可证|o|3
瓶装燃气供应站许可证|o|3
商品房买卖合同备案证明|p|0
房屋租赁登记备案证明|p|1
公共租赁住房资格证明|p|3
二级建造师注册证书|p|3
建设工程消防验收备案凭证|o|0`,
	"xy-rsj": `社会保障卡|p|10
职业资格证书|p|0
职业技能等级证书|p|0
人力资源服务许可证|o|0
劳务派遣经营许可证|o|3
就业创业证|p|0
失业登记证明|p|1
专业技术职务任职资格证书|p|0
技工学校办学许可证|o|5
退休证|p|0`,
	"xy-jyj": `教师资格证书|p|0
民办学校办学许可证|o|5
中等职业学校毕业证书|p|0
普通高中毕业证书|p|0
校车使用许可证|o|3
校外培训机构办学许可证|o|3`,
	"xy-jtysj": `道路运输经营许可证|o|4
道路运输证|o|0
道路运输从业人员从业资格证|p|6
网络预约出租汽车运输证|o|8
网络预约出租汽车驾驶员证|p|6
出租汽车驾驶员从业资格证|p|6
船舶营业运输证|o|5
公路超限运输车辆通行证|o|1
机动车驾驶员培训经营许可证|o|4
危险货物道路运输许可证|o|4
港口经营许可证|o|3
水路运输许可证|o|5
船员适任证书|p|5
国际道路运输经营许可证|o|4
城市公共汽车客运经营许可证|o|8`,
	"xy-ybj": `医疗保障定点医疗机构协议证书|o|3
医疗保障定点零售药店协议证书|o|3
门诊慢特病待遇认定证明|p|2
医保参保缴费证明|p|0
异地就医备案凭证|p|1`,
	"xy-tyjrswj": `退役军人优待证|p|0
残疾军人证|p|0
烈士证明书|p|0
退役军人光荣牌登记证明|p|0`,
	"xy-sfj": `律师执业证|p|0
公证员执业证|p|0
法律职业资格证书|p|0
基层法律服务工作者执业证|p|0
司法鉴定许可证|o|5
律师事务所执业许可证|o|0
司法鉴定人执业证|p|5
人民调解员证|p|3`,
	"xy-yjglj": `安全生产许可证|o|3
危险化学品经营许可证|o|3
烟花爆竹经营（零售）许可证|o|1
特种作业操作证|p|6
危险化学品安全使用许可证|o|3
非药品类易制毒化学品经营备案证明|o|3
安全生产知识和管理能力考核合格证|p|3
公众聚集场所投入使用营业前消防安全检查合格证|o|0
烟花爆竹经营（批发）许可证|o|3
金属冶炼建设项目安全设施设计审查意见书|o|0`,
	"xy-sthjj": `排污许可证|o|5
危险废物经营许可证|o|5
辐射安全许可证|o|5
建设项目环境影响报告书批复|o|5
排污登记回执|o|5`,
	"xy-nyncj": `农药经营许可证|o|5
兽药经营许可证|o|5
农作物种子生产经营许可证|o|5
动物防疫条件合格证|o|0
渔业捕捞许可证|o|5
拖拉机和联合收割机驾驶证|p|6
生鲜乳收购许可证|o|2
饲料生产许可证|o|5
农村土地承包经营权证|p|0
动物诊疗许可证|o|0
执业兽医资格证书|p|0
水产苗种生产许可证|o|3
农业机械登记证书|p|0
植物检疫证书|o|0`,
	"xy-shwj": `对外贸易经营者备案登记表|o|0
单用途商业预付卡备案证明|o|0
成品油零售经营批准证书|o|5
酒类流通备案登记表|o|0
拍卖经营批准证书|o|0
报废机动车回收拆解企业资质认定证书|o|0
再生资源回收经营者备案证明|o|0
外商投资企业备案回执|o|0`,
	"xy-wlj": `旅行社业务经营许可证|o|0
娱乐场所经营许可证|o|2
网络文化经营许可证|o|3
营业性演出许可证|o|2
导游证|p|3
互联网上网服务营业场所经营许可证|o|2
出版物经营许可证|o|5
印刷经营许可证|o|5
广播电视节目制作经营许可证|o|2
文物保护工程资质证书|o|0
高危险性体育项目经营许可证|o|5
艺术品经营单位备案证明|o|0
卫星电视广播地面接收设施安装许可证|o|3
社会体育指导员证书|p|0
文物拍卖许可证|o|5`,
	"xy-cgw": `城市建筑垃圾处置核准证|o|1
户外广告设施设置许可证|o|3
占用挖掘城市道路许可证|o|1
城镇污水排入排水管网许可证|o|5
临时占用城市绿地许可证|o|1
城市生活垃圾经营性服务许可证|o|3
设置大型户外广告许可证|o|3
城市道路临时停车泊位设置许可证|o|1`,
	"xy-czj": `代理记账许可证书|o|0
政府采购代理机构登记证明|o|0
会计人员信息采集证明|p|0
非税收入票据领购证|o|0`,
	"xy-fgw": `企业投资项目备案证明|o|2
企业投资项目核准批复|o|2
价格鉴证师注册证|p|0
节能审查意见书|o|2
粮食收购许可证|o|3
固定资产投资项目节能登记证明|o|0`,
	"xy-jxj": `无线电台执照|o|5
民用爆炸物品生产许可证|o|3
工业企业技术改造备案证|o|2
电力业务许可证|o|20
承装（修、试）电力设施许可证|o|6`,
	"xy-swj": `税务登记证|o|0
发票领用簿|o|0
完税证明|p|0
纳税信用等级证明|o|1
个人所得税纳税记录|p|0
税收居民身份证明|p|1
出口退（免）税备案表|o|0`,
	"xy-sjj": `政务服务事项办结证明|p|0
电子证照共享核验回执|o|0
一网通办授权委托书|p|1`,
}

// catalogueOrder is the order of departments in the catalogue.
var catalogueOrder = []string{"xy-gaj", "xy-mzj", "xy-wjw", "xy-scjgj", "xy-zrzyghj", "xy-bdcdjzx", "xy-zxj", "xy-rsj", "xy-jyj",
	"xy-jtysj", "xy-ybj", "xy-tyjrswj", "xy-sfj", "xy-yjglj", "xy-sthjj", "xy-nyncj", "xy-shwj", "xy-wlj", "xy-cgw", "xy-czj",
	"xy-fgw", "xy-jxj", "xy-swj", "xy-sjj"}

// specificFields are the face fields of the best-known types; the rest
// get the generic fields of their holder kind.
var specificFields = map[string][]Field{
	"居民身份证": {
		{Code: "gender", Name: "性别", Format: FormatEnum, Required: true, Choices: []string{"男", "女"}},
		{Code: "ethnicity", Name: "民族", Format: FormatText, Required: true, MaxLen: 10},
		{Code: "birth_date", Name: "出生", Format: FormatDate, Required: true},
		{Code: "address", Name: "住址", Format: FormatText, Required: true, MaxLen: 100},
	},
	"机动车驾驶证": {
		{Code: "gender", Name: "性别", Format: FormatEnum, Required: true, Choices: []string{"男", "女"}},
		{Code: "class", Name: "准驾车型", Format: FormatEnum, Required: true, Choices: []string{"A1", "A2", "A3", "B1", "B2", "C1", "C2", "C3", "D", "E", "F"}},
		{Code: "first_issued", Name: "初次领证日期", Format: FormatDate, Required: true},
		{Code: "address", Name: "住址", Format: FormatText, MaxLen: 100},
	},
	"结婚证": {
		{Code: "spouse_name", Name: "配偶姓名", Format: FormatText, Required: true, MaxLen: 50},
		{Code: "spouse_id", Name: "配偶身份证件号", Format: FormatText, Required: true, MaxLen: 18},
		{Code: "registered_on", Name: "登记日期", Format: FormatDate, Required: true},
		{Code: "registry", Name: "登记机关", Format: FormatText, Required: true, MaxLen: 50},
	},
	"出生医学证明": {
		{Code: "baby_name", Name: "新生儿姓名", Format: FormatText, Required: true, MaxLen: 50},
		{Code: "gender", Name: "性别", Format: FormatEnum, Required: true, Choices: []string{"男", "女"}},
		{Code: "birth_date", Name: "出生日期", Format: FormatDate, Required: true},
		{Code: "weight_g", Name: "出生体重（克）", Format: FormatNumber, Required: true},
		{Code: "hospital", Name: "接生机构", Format: FormatText, Required: true, MaxLen: 60},
		{Code: "mother_name", Name: "母亲姓名", Format: FormatText, Required: true, MaxLen: 50},
	},
	"营业执照": {
		{Code: "entity_type", Name: "类型", Format: FormatEnum, Required: true, Choices: []string{"有限责任公司", "股份有限公司", "个人独资企业", "合伙企业", "分公司"}},
		{Code: "legal_rep", Name: "法定代表人", Format: FormatText, Required: true, MaxLen: 50},
		{Code: "capital_wan", Name: "注册资本（万元）", Format: FormatNumber, Required: true},
		{Code: "established", Name: "成立日期", Format: FormatDate, Required: true},
		{Code: "address", Name: "住所", Format: FormatText, Required: true, MaxLen: 100},
		{Code: "scope", Name: "经营范围", Format: FormatText, Required: true, MaxLen: 500},
	},
	"不动产权证书": {
		{Code: "location", Name: "坐落", Format: FormatText, Required: true, MaxLen: 100},
		{Code: "unit_no", Name: "不动产单元号", Format: FormatText, Required: true, MaxLen: 28},
		{Code: "right_type", Name: "权利类型", Format: FormatEnum, Required: true, Choices: []string{"国有建设用地使用权/房屋所有权", "宅基地使用权/房屋所有权", "集体建设用地使用权"}},
		{Code: "usage", Name: "用途", Format: FormatEnum, Required: true, Choices: []string{"住宅", "商业", "办公", "工业"}},
		{Code: "area_m2", Name: "面积（平方米）", Format: FormatNumber, Required: true},
		{Code: "sharing", Name: "共有情况", Format: FormatEnum, Choices: []string{"单独所有", "共同共有", "按份共有"}},
	},
	"食品经营许可证": {
		{Code: "legal_rep", Name: "法定代表人（负责人）", Format: FormatText, Required: true, MaxLen: 50},
		{Code: "premises", Name: "经营场所", Format: FormatText, Required: true, MaxLen: 100},
		{Code: "main_form", Name: "主体业态", Format: FormatEnum, Required: true, Choices: []string{"食品销售经营者", "餐饮服务经营者", "单位食堂"}},
		{Code: "items", Name: "经营项目", Format: FormatText, Required: true, MaxLen: 300},
	},
	"道路运输经营许可证": {
		{Code: "legal_rep", Name: "法定代表人", Format: FormatText, Required: true, MaxLen: 50},
		{Code: "address", Name: "地址", Format: FormatText, Required: true, MaxLen: 100},
		{Code: "scope", Name: "经营范围", Format: FormatEnum, Required: true, Choices: []string{"道路普通货物运输", "道路旅客运输", "货物专用运输（集装箱）", "大型物件运输"}},
	},
}

var (
	personFields = []Field{
		{Code: "gender", Name: "性别", Format: FormatEnum, Choices: []string{"男", "女"}},
		{Code: "address", Name: "住址", Format: FormatText, MaxLen: 100},
		{Code: "category", Name: "类别", Format: FormatText, MaxLen: 50},
	}
	orgFields = []Field{
		{Code: "legal_rep", Name: "法定代表人（负责人）", Format: FormatText, Required: true, MaxLen: 50},
		{Code: "address", Name: "地址", Format: FormatText, Required: true, MaxLen: 100},
		{Code: "scope", Name: "许可范围", Format: FormatText, MaxLen: 300},
	}
)

// Catalogue returns the built-in licence types. creditCode gives each
// department's 统一社会信用代码 (the prefix of its types' codes).
func Catalogue(creditCode func(deptID string) string) ([]Type, error) {
	var out []Type
	for _, dept := range catalogueOrder {
		cc := creditCode(dept)
		if cc == "" {
			return nil, fmt.Errorf("licence catalogue: no credit code for department %s", dept)
		}
		for i, line := range strings.Split(catalogueText[dept], "\n") {
			parts := strings.Split(line, "|")
			if len(parts) != 3 {
				return nil, fmt.Errorf("licence catalogue: bad line %q", line)
			}
			years, _ := strconv.Atoi(parts[2])
			t := Type{Code: fmt.Sprintf("%s%03d", cc, i+1), Name: parts[0], DefinerID: dept, IssuerIDs: []string{dept},
				HolderKind: HolderPerson, ValidityYears: years}
			if parts[1] == "o" {
				t.HolderKind = HolderOrganisation
			}
			switch f, ok := specificFields[t.Name]; {
			case ok:
				t.Fields = f
			case t.HolderKind == HolderOrganisation:
				t.Fields = orgFields
			default:
				t.Fields = personFields
			}
			out = append(out, t)
		}
	}
	return out, nil
}
