-- Data directory (数据目录): libraries, catalogue items, versions, search index.
-- Times are unix microseconds. Codes and search terms compare bytewise on both
-- engines (SQLite BINARY, PostgreSQL COLLATE "C") so ordering is identical.
CREATE TABLE catalog_libraries (
	id         TEXT PRIMARY KEY,
	kind       TEXT NOT NULL,                 -- base (基础库), theme (主题库)
	name       TEXT NOT NULL UNIQUE,
	sort       BIGINT NOT NULL,
	created_at BIGINT NOT NULL
);

CREATE TABLE catalog_items (
	code           TEXT PRIMARY KEY,          -- 信息资源代码: classification + '-' + 6-digit sequence
	name           TEXT NOT NULL,
	provider_id    TEXT NOT NULL REFERENCES departments(id),
	status         TEXT NOT NULL,             -- draft, published, withdrawn
	version        BIGINT NOT NULL,
	share_type     TEXT NOT NULL,
	format         TEXT NOT NULL,
	update_cycle   TEXT NOT NULL,
	doc            TEXT NOT NULL,             -- the item as JSON (catalog.Item, without bookkeeping)
	content_hash   TEXT NOT NULL,             -- SHA-256 of doc: import skips unchanged items by it
	search_name    TEXT NOT NULL,             -- normalised (NFKC, lower-case) name
	search_fields  TEXT NOT NULL,             -- normalised field names and codes
	search_summary TEXT NOT NULL,             -- normalised summary
	created_at     BIGINT NOT NULL,
	updated_at     BIGINT NOT NULL,
	updated_by     TEXT NOT NULL,
	seq            BIGINT NOT NULL,           -- commit order: each write takes the next number (catalog/index.go)
	UNIQUE (provider_id, name)
);
CREATE UNIQUE INDEX catalog_items_seq ON catalog_items(seq);
CREATE INDEX catalog_items_status ON catalog_items(status, code);
CREATE INDEX catalog_items_share ON catalog_items(share_type, code);

CREATE TABLE catalog_item_libraries (
	code       TEXT NOT NULL REFERENCES catalog_items(code),
	library_id TEXT NOT NULL REFERENCES catalog_libraries(id),
	PRIMARY KEY (code, library_id)
) WITHOUT ROWID;
CREATE INDEX catalog_item_libraries_lib ON catalog_item_libraries(library_id, code);

CREATE TABLE catalog_versions (
	code       TEXT NOT NULL,
	version    BIGINT NOT NULL,
	action     TEXT NOT NULL,                 -- create, update, publish, withdraw
	at         BIGINT NOT NULL,
	by_id      TEXT NOT NULL,                 -- principal id, or cli:USER
	note       TEXT NOT NULL,
	changes    TEXT NOT NULL,                 -- JSON [{field, old, new}]
	doc        TEXT NOT NULL,                 -- the item as it was after this version
	PRIMARY KEY (code, version)
) WITHOUT ROWID;

-- The search index is not a table: it is kept in memory from the
-- search_* columns above and caught up before each search by seq (see
-- catalog/index.go), so it follows every commit and cannot drift.

INSERT INTO catalog_libraries (id, kind, name, sort, created_at) VALUES
	('base-population', 'base', '人口基础库', 1, 0),
	('base-legal-person', 'base', '法人基础库', 2, 0),
	('base-geo', 'base', '自然资源和空间地理基础库', 3, 0),
	('base-credit', 'base', '社会信用基础库', 4, 0),
	('base-licence', 'base', '电子证照基础库', 5, 0),
	('base-economy', 'base', '宏观经济基础库', 6, 0),
	('theme-health', 'theme', '医疗健康主题库', 11, 0),
	('theme-social-security', 'theme', '社会保障主题库', 12, 0),
	('theme-education', 'theme', '教育主题库', 13, 0),
	('theme-real-estate', 'theme', '不动产主题库', 14, 0),
	('theme-market', 'theme', '市场监管主题库', 15, 0),
	('theme-transport', 'theme', '交通出行主题库', 16, 0),
	('theme-civil-affairs', 'theme', '民政服务主题库', 17, 0),
	('theme-housing', 'theme', '住房保障主题库', 18, 0),
	('theme-employment', 'theme', '就业创业主题库', 19, 0),
	('theme-environment', 'theme', '生态环境主题库', 20, 0),
	('theme-culture-tourism', 'theme', '文化旅游主题库', 21, 0),
	('theme-emergency', 'theme', '应急管理主题库', 22, 0);
