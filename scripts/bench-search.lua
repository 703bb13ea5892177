-- wrk script for scripts/bench-search.sh: GET /v1/catalog/search with a
-- rotating mix of one-, two- and three-or-more-character Chinese queries
-- (and a field code), as people type them. Each thread starts at another
-- point of the list.
local queries = {
	"户", "证", "信息", "登记", "户籍", "社保", "婚姻登记", "不动产", "参保", "营业",
	"许可", "学籍", "医保结算", "公积金", "不动产 抵押", "gmsfhm", "出生医学证明",
	"排污", "景区", "纳税信用", "企", "人口", "法人", "电子证照", "交通", "医",
}

local function urlencode(s)
	return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local paths = {}
for i, q in ipairs(queries) do
	paths[i] = "/v1/catalog/search?q=" .. urlencode(q)
end

local counter = 0
local thread_index = 0

function setup(thread)
	thread:set("offset", thread_index * 7)
	thread_index = thread_index + 1
end

function request()
	counter = counter + 1
	local p = paths[((counter + (offset or 0)) % #paths) + 1]
	return wrk.format("GET", p)
end
