package catalog

import (
	"context"
	"strconv"

	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

// Sheet names of the catalogue workbook.
const (
	SheetItems  = "信息资源"
	SheetFields = "信息项"
)

// Spec returns the catalogue workbook's format: the items sheet and the
// fields sheet, with the library names of this hub as drop-down choices.
// Templates, imports and exports all use it.
func (s *Service) Spec(ctx context.Context) (sheet.Spec, error) {
	libs, err := s.Libraries(ctx)
	if err != nil {
		return sheet.Spec{}, err
	}
	names := make([]string, len(libs))
	for i, l := range libs {
		names[i] = l.Name
	}
	return SpecFor(names), nil
}

// LibraryNames are the names of the libraries every hub starts with (the
// 0004 migration), in order.
var LibraryNames = libraryOrder

// SpecFor is the workbook format with the given library names as choices.
func SpecFor(libraryNames []string) sheet.Spec {
	items := sheet.Sheet{Name: SheetItems, Aliases: []string{"目录", "Sheet1"}, Columns: []sheet.Column{
		{Key: "code", Header: "资源代码", Kind: sheet.Code, Max: 20, Width: 16, Example: "",
			Note: "新增时留空，由系统按分类生成；修改已有资源时填写其代码"},
		{Key: "name", Header: "信息资源名称", Required: true, Max: MaxName, Width: 28, Example: "户籍人口迁入登记信息"},
		{Key: "lei", Header: "类", Required: true, Kind: sheet.Code, Max: 1, Width: 5, Example: "1", Note: "1位数字"},
		{Key: "xiang", Header: "项", Required: true, Kind: sheet.Code, Max: 2, Width: 5, Example: "01", Note: "2位数字，保留前导0（单元格设为文本）"},
		{Key: "mu", Header: "目", Required: true, Kind: sheet.Code, Max: 3, Width: 6, Example: "001", Note: "3位数字，保留前导0"},
		{Key: "ximu", Header: "细目", Kind: sheet.Code, Max: 4, Width: 6, Example: "", Note: "可选，至多4位数字"},
		{Key: "provider", Header: "提供方", Max: 100, Width: 24, Example: "襄阳市公安局", Note: "部门全称；与提供方代码至少填一项"},
		{Key: "provider_code", Header: "提供方代码", Kind: sheet.Code, Max: 18, Width: 22, Example: "11420600000000027M", Note: "18位统一社会信用代码（单元格设为文本）"},
		{Key: "summary", Header: "信息资源摘要", Max: MaxSummary, Width: 40, Example: "全市户籍人口迁入登记的结果信息"},
		{Key: "format", Header: "信息资源格式", Required: true, Choices: Formats, Width: 12, Example: "数据库"},
		{Key: "share_type", Header: "共享类型", Required: true, Choices: ShareTypes, Width: 12, Example: ShareConditional},
		{Key: "share_condition", Header: "共享条件", Max: MaxCondition, Width: 24, Example: "仅限办理户籍、婚姻登记等法定业务使用",
			Note: "有条件共享时必填"},
		{Key: "legal_basis", Header: "共享依据", Max: MaxCondition, Width: 24, Example: "《中华人民共和国户口登记条例》",
			Note: "有条件共享、不予共享时必填（法律法规依据）"},
		{Key: "share_method", Header: "共享方式", Choices: ShareMethods, Width: 12, Example: "接口服务", Note: "不予共享时可空"},
		{Key: "open_type", Header: "开放类型", Required: true, Choices: OpenTypes, Width: 12, Example: "不予开放"},
		{Key: "update_cycle", Header: "更新周期", Required: true, Choices: UpdateCycles, Width: 10, Example: "每日"},
		{Key: "publish_date", Header: "发布日期", Kind: sheet.Date, Width: 12, Example: "2024-03-01"},
		{Key: "libraries", Header: "所属库", Choices: libraryNames, Multi: true, Width: 24, Example: "人口基础库",
			Note: "可多选，以“；”分隔"},
		{Key: "related", Header: "关联资源代码", Multi: true, Max: 2000, Width: 20, Example: "", Note: "可多个，以“；”分隔"},
		// Last, so the columns before it keep their letters in older files.
		{Key: "version", Header: "版本", Kind: sheet.Int, Width: 6, Example: "",
			Note: "导出时资源的版本号，导入时据此发现导出后他人所作的修改，不会覆盖；新增时留空，清空则按本行覆盖"},
	}}
	fields := sheet.Sheet{Name: SheetFields, Optional: true, Columns: []sheet.Column{
		{Key: "item_code", Header: "资源代码", Kind: sheet.Code, Max: 20, Width: 16, Example: "",
			Note: "所属信息资源的代码；新增资源时留空并填写信息资源名称"},
		{Key: "item_name", Header: "信息资源名称", Max: MaxName, Width: 28, Example: "户籍人口迁入登记信息"},
		{Key: "name", Header: "信息项名称", Required: true, Max: MaxFieldName, Width: 18, Example: "公民身份号码"},
		{Key: "code", Header: "信息项代码", Required: true, Kind: sheet.Code, Max: 64, Width: 14, Example: "gmsfhm"},
		{Key: "data_type", Header: "数据类型", Required: true, Choices: DataTypes, Width: 12, Example: "字符型"},
		{Key: "length", Header: "数据长度", Kind: sheet.Int, Width: 10, Example: "18"},
		{Key: "description", Header: "描述", Max: MaxDescription, Width: 30, Example: "18位公民身份号码"},
		{Key: "personal", Header: "是否个人信息", Kind: sheet.Bool, Width: 12, Example: "是"},
		{Key: "sensitive", Header: "是否敏感", Kind: sheet.Bool, Width: 10, Example: "是"},
	}}
	return sheet.Spec{Sheets: []sheet.Sheet{items, fields}}
}

// itemRow is the items-sheet row of an item, in the spec's column order.
func itemRow(it *Item, providerCode string, libName map[string]string) []string {
	libs := make([]string, len(it.Libraries))
	for i, l := range it.Libraries {
		libs[i] = libName[l]
	}
	version := ""
	if it.Version > 0 {
		version = strconv.Itoa(it.Version)
	}
	return []string{it.Code, it.Name, it.Lei, it.Xiang, it.Mu, it.Ximu, it.ProviderName, providerCode, it.Summary,
		it.Format, it.ShareType, it.ShareCondition, it.LegalBasis, it.ShareMethod, it.OpenType, it.UpdateCycle,
		it.PublishDate, list(libs), list(it.Related), version}
}

func fieldRow(code, itemName string, f Field) []string {
	length := ""
	if f.Length > 0 {
		length = strconv.Itoa(f.Length)
	}
	return []string{code, itemName, f.Name, f.Code, f.DataType, length, f.Description, yesNo(f.Personal), yesNo(f.Sensitive)}
}

func yesNo(b bool) string {
	if b {
		return "是"
	}
	return "否"
}
