package api

import (
	"bytes"
	"net/http"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/xiangyang-gov/sharehub/catalog"
	"github.com/xiangyang-gov/sharehub/exchange"
	"github.com/xiangyang-gov/sharehub/internal/errs"
	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

type publishRequest struct {
	Note string `json:"note,omitempty"`
}

type withdrawRequest struct {
	Reason string `json:"reason"`
}

type diffResponse struct {
	Code    string           `json:"code"`
	From    int              `json:"from"`
	To      int              `json:"to"`
	Changes []catalog.Change `json:"changes"`
}

const xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

func (s *Server) registerCatalog() {
	if s.catalog == nil {
		return
	}
	editors := []exchange.Role{exchange.RoleAdmin, exchange.RoleDataAdmin}
	bulk := []exchange.Role{exchange.RoleAdmin, exchange.RoleDataAdmin, exchange.RoleImporter}
	filterQuery := []queryParam{{Name: "library", Description: "library id"}, {Name: "department", Description: "provider department id"},
		{Name: "share_type"}, {Name: "format"}, {Name: "update_cycle"},
		{Name: "status", Description: "draft, published or withdrawn; only data admins, admins, auditors and importers see other than published"}}

	s.handle(route{Method: "GET", Path: "/v1/catalog/libraries", Tag: "catalog", Summary: "The base (基础库) and theme (主题库) libraries with their published items' counts.",
		Query:    []queryParam{{Name: "all", Description: "true: count every status (data admins, admins, auditors)"}},
		Response: list[catalog.Library]{}, Handler: func(c *gin.Context) {
			all, err := queryBool(c, "all")
			if err != nil {
				fail(c, err)
				return
			}
			if all && !catalog.CanSeeAll(principal(c)) {
				fail(c, errs.Forbidden("only data admins, admins, auditors and importers may count unpublished items"))
				return
			}
			ls, err := s.catalog.CountedLibraries(c.Request.Context(), !all)
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, len(ls))
			ok(c, http.StatusOK, list[catalog.Library]{Items: ls})
		}})
	s.handle(route{Method: "GET", Path: "/v1/catalog/tree", Tag: "catalog", Summary: "The directory as a tree (libraries and department catalogues) with item counts.",
		Query:    []queryParam{{Name: "all", Description: "true: count every status (data admins, admins, auditors)"}},
		Response: []catalog.TreeNode{}, Handler: func(c *gin.Context) {
			all, err := queryBool(c, "all")
			if err != nil {
				fail(c, err)
				return
			}
			if all && !catalog.CanSeeAll(principal(c)) {
				fail(c, errs.Forbidden("only data admins, admins, auditors and importers may count unpublished items"))
				return
			}
			tree, err := s.catalog.Tree(c.Request.Context(), !all)
			if err != nil {
				fail(c, err)
				return
			}
			ok(c, http.StatusOK, tree)
		}})
	s.handle(route{Method: "GET", Path: "/v1/catalog/items", Tag: "catalog", Summary: "List catalogue items with filters, a page at a time (cursor).",
		Query:    append(append([]queryParam{}, filterQuery...), queryParam{Name: "cursor"}, queryParam{Name: "limit", Description: "1–500, default 50"}),
		Response: list[catalog.Item]{}, Handler: func(c *gin.Context) {
			f, err := catalogFilter(c)
			if err != nil {
				fail(c, err)
				return
			}
			f.Cursor = c.Query("cursor")
			if v := c.Query("limit"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 500 {
					fail(c, errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?limit", Reason: "1–500", Value: clip(v, 20)}))
					return
				}
				f.Limit = n
			}
			items, next, err := s.catalog.Items(c.Request.Context(), f)
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, len(items))
			ok(c, http.StatusOK, list[catalog.Item]{Items: items, NextCursor: next})
		}})
	s.handle(route{Method: "GET", Path: "/v1/catalog/search", Tag: "catalog",
		Summary: "Search names, field names and summaries (Chinese: 1, 2 or more characters); ranked, matches marked.",
		Query: []queryParam{{Name: "q", Required: true, Description: "at most 100 characters; words separated by spaces must all match"},
			{Name: "status", Description: "default published"}, {Name: "limit", Description: "1–100, default 20"}, {Name: "cursor"}},
		Response: catalog.SearchResult{}, Handler: func(c *gin.Context) {
			q := catalog.SearchQuery{Q: c.Query("q"), Cursor: c.Query("cursor")}
			if st := c.Query("status"); st != "" {
				if err := checkStatus(c, st); err != nil {
					fail(c, err)
					return
				}
				q.Status = catalog.Status(st)
			}
			if v := c.Query("limit"); v != "" {
				n, err := strconv.Atoi(v)
				if err != nil || n < 1 || n > 100 {
					fail(c, errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?limit", Reason: "1–100", Value: clip(v, 20)}))
					return
				}
				q.Limit = n
			}
			res, err := s.catalog.Search(c.Request.Context(), q)
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, len(res.Items))
			ok(c, http.StatusOK, res)
		}})
	s.handle(route{Method: "POST", Path: "/v1/catalog/items", Tag: "catalog", Roles: editors, Status: http.StatusCreated,
		Summary: "Create a draft item (data admins of the provider department, or admins); its code comes from the classification.",
		Request: catalog.NewItem{}, Response: catalog.Item{}, Handler: func(c *gin.Context) {
			var in catalog.NewItem
			if err := bindJSON(c, &in); err != nil {
				fail(c, err)
				return
			}
			it, err := s.catalog.Create(c.Request.Context(), principal(c), in)
			if err != nil {
				fail(c, err)
				return
			}
			noteResource(c, exchange.ResourceCatalogItem, it.Code)
			ok(c, http.StatusCreated, it)
		}})
	s.handle(route{Method: "GET", Path: "/v1/catalog/items/:code", Tag: "catalog", Summary: "One item by its resource code.",
		Response: catalog.Item{}, Handler: func(c *gin.Context) {
			it, err := s.visibleItem(c)
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, 1)
			ok(c, http.StatusOK, it)
		}})
	s.handle(route{Method: "PUT", Path: "/v1/catalog/items/:code", Tag: "catalog", Roles: editors,
		Summary: "Replace an item's content; give the version you read (a stale one is 409). Records a version with the changed fields.",
		Request: catalog.ItemUpdate{}, Response: catalog.Item{}, Handler: func(c *gin.Context) {
			var u catalog.ItemUpdate
			if err := bindJSON(c, &u); err != nil {
				fail(c, err)
				return
			}
			noteResource(c, exchange.ResourceCatalogItem, c.Param("code"))
			it, err := s.catalog.Update(c.Request.Context(), principal(c), c.Param("code"), u)
			if err != nil {
				fail(c, err)
				return
			}
			s.reviewGrants(c, c.Param("code"))
			ok(c, http.StatusOK, it)
		}})
	s.handle(route{Method: "POST", Path: "/v1/catalog/items/:code/publish", Tag: "catalog", Roles: editors,
		Summary: "Publish an item to every department.", Request: publishRequest{}, Response: catalog.Item{}, Handler: func(c *gin.Context) {
			var r publishRequest
			if c.Request.ContentLength != 0 {
				if err := bindJSON(c, &r); err != nil {
					fail(c, err)
					return
				}
			}
			noteResource(c, exchange.ResourceCatalogItem, c.Param("code"))
			it, err := s.catalog.Publish(c.Request.Context(), principal(c), c.Param("code"), r.Note)
			if err != nil {
				fail(c, err)
				return
			}
			ok(c, http.StatusOK, it)
		}})
	s.handle(route{Method: "POST", Path: "/v1/catalog/items/:code/withdraw", Tag: "catalog", Roles: editors,
		Summary: "Withdraw a published item, with a reason; it stays in history.", Request: withdrawRequest{}, Response: catalog.Item{}, Handler: func(c *gin.Context) {
			var r withdrawRequest
			if err := bindJSON(c, &r); err != nil {
				fail(c, err)
				return
			}
			noteResource(c, exchange.ResourceCatalogItem, c.Param("code"))
			it, err := s.catalog.Withdraw(c.Request.Context(), principal(c), c.Param("code"), r.Reason)
			if err != nil {
				fail(c, err)
				return
			}
			s.reviewGrants(c, c.Param("code"))
			ok(c, http.StatusOK, it)
		}})
	s.handle(route{Method: "GET", Path: "/v1/catalog/items/:code/versions", Tag: "catalog", Summary: "An item's versions: who, when, which fields changed.",
		Response: list[catalog.Version]{}, Handler: func(c *gin.Context) {
			if _, err := s.visibleItem(c); err != nil {
				fail(c, err)
				return
			}
			vs, err := s.catalog.Versions(c.Request.Context(), c.Param("code"))
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, len(vs))
			ok(c, http.StatusOK, list[catalog.Version]{Items: vs})
		}})
	s.handle(route{Method: "GET", Path: "/v1/catalog/items/:code/versions/:version", Tag: "catalog", Summary: "One version with the item as it was.",
		Response: catalog.Version{}, Handler: func(c *gin.Context) {
			if _, err := s.visibleItem(c); err != nil {
				fail(c, err)
				return
			}
			n, err := strconv.Atoi(c.Param("version"))
			if err != nil || n < 1 {
				fail(c, errs.InvalidFields("bad version", errs.FieldError{Pointer: "version", Reason: "a version number from 1", Value: clip(c.Param("version"), 20)}))
				return
			}
			v, err := s.catalog.VersionOf(c.Request.Context(), c.Param("code"), n)
			if err != nil {
				fail(c, err)
				return
			}
			ok(c, http.StatusOK, v)
		}})
	s.handle(route{Method: "GET", Path: "/v1/catalog/items/:code/diff", Tag: "catalog", Summary: "What changed between two versions of an item.",
		Query: []queryParam{{Name: "from", Required: true}, {Name: "to", Required: true}}, Response: diffResponse{}, Handler: func(c *gin.Context) {
			if _, err := s.visibleItem(c); err != nil {
				fail(c, err)
				return
			}
			var fe []errs.FieldError
			num := func(name string) int {
				n, err := strconv.Atoi(c.Query(name))
				if err != nil || n < 1 {
					fe = append(fe, errs.FieldError{Pointer: "?" + name, Reason: "a version number from 1", Value: clip(c.Query(name), 20)})
				}
				return n
			}
			from, to := num("from"), num("to")
			if len(fe) > 0 {
				fail(c, errs.InvalidFields("bad query parameters", fe...))
				return
			}
			ch, err := s.catalog.Diff(c.Request.Context(), c.Param("code"), from, to)
			if err != nil {
				fail(c, err)
				return
			}
			ok(c, http.StatusOK, diffResponse{Code: c.Param("code"), From: from, To: to, Changes: ch})
		}})
	s.handle(route{Method: "GET", Path: "/v1/catalog/template", Tag: "catalog",
		Summary: "The catalogue import template (xlsx): Chinese headers, drop-downs, an example row, a second sheet for fields.",
		Handler: func(c *gin.Context) {
			var buf bytes.Buffer
			if err := s.catalog.Template(c.Request.Context(), &buf); err != nil {
				fail(c, err)
				return
			}
			attachment(c, "数据目录导入模板.xlsx", buf.Bytes())
		}})
	s.handle(route{Method: "GET", Path: "/v1/catalog/export", Tag: "catalog", Roles: []exchange.Role{exchange.RoleAdmin, exchange.RoleDataAdmin, exchange.RoleAuditor, exchange.RoleImporter},
		Summary: "Export items (whole or filtered) as xlsx in the template's format; importing it back changes nothing.",
		Query:   filterQuery, Handler: func(c *gin.Context) {
			f, err := catalogFilter(c)
			if err != nil {
				fail(c, err)
				return
			}
			var buf bytes.Buffer
			n, err := s.catalog.Export(c.Request.Context(), f, &buf)
			if err != nil {
				fail(c, err)
				return
			}
			noteRows(c, n)
			attachment(c, "数据目录.xlsx", buf.Bytes())
		}})
	s.handle(route{Method: "POST", Path: "/v1/catalog/import", Tag: "catalog", Roles: bulk, Upload: true,
		Summary: "Import an xlsx or CSV catalogue (raw body or multipart field \"file\"). Dry run unless commit=true; a file is accepted whole or not at all.",
		Query: []queryParam{{Name: "commit", Description: "true: write the file if it has no errors (400 with every bad cell otherwise)"},
			{Name: "publish", Description: "true: publish new and changed items"}, {Name: "filename", Description: "the file's name, for messages"}},
		Response: sheet.Report{}, Handler: func(c *gin.Context) {
			s.importCatalog(c)
		}})
}

func (s *Server) importCatalog(c *gin.Context) {
	var commit, publish bool
	if err := queryBools(c, "commit", &commit, "publish", &publish); err != nil {
		fail(c, err)
		return
	}
	body := c.Request.Body
	name := c.Query("filename")
	if strings.HasPrefix(c.ContentType(), "multipart/form-data") {
		fh, err := c.FormFile("file")
		if err != nil {
			fail(c, uploadError(errs.InvalidFields("multipart upload needs a file field", errs.FieldError{Pointer: "file", Reason: "required"}), s.cfg.MaxUploadBytes))
			return
		}
		rc, err := fh.Open()
		if err != nil {
			fail(c, errs.Internal(err, "upload"))
			return
		}
		defer rc.Close()
		body, name = rc, fh.Filename
	}
	ext := strings.ToLower(filepath.Ext(name))
	if ext != ".csv" && ext != ".xlsx" {
		ext = ""
	}
	path, remove, err := sheet.SaveTemp(body, "", ext, s.cfg.MaxUploadBytes)
	if err != nil {
		fail(c, uploadError(err, s.cfg.MaxUploadBytes))
		return
	}
	defer remove()
	var updated []string
	rep, err := s.catalog.Import(c.Request.Context(), path, catalog.ImportOptions{By: principal(c), Commit: commit, Publish: publish,
		Committed: func(codes []string) { updated = codes }})
	if err != nil {
		fail(c, err)
		return
	}
	rep.File = clip(name, 200)
	if commit && !rep.OK() {
		fail(c, rep.Err())
		return
	}
	noteResource(c, "catalog_import", strconv.Itoa(rep.Created)+"+"+strconv.Itoa(rep.Updated))
	noteRows(c, rep.Created+rep.Updated)
	// A row may have changed an item's share type or fields, as an edit
	// through PUT does: the same review of its grants.
	s.reviewGrants(c, updated...)
	ok(c, http.StatusOK, rep)
}

func attachment(c *gin.Context, name string, b []byte) {
	c.Header("Content-Disposition", "attachment; filename*=UTF-8''"+url.PathEscape(name))
	c.Header("X-Content-Type-Options", "nosniff")
	c.Data(http.StatusOK, xlsxType, b)
}

// visibleItem returns the item of the :code parameter, as not found when
// the caller may not see unpublished items and it is not published.
func (s *Server) visibleItem(c *gin.Context) (catalog.Item, error) {
	code := c.Param("code")
	noteResource(c, exchange.ResourceCatalogItem, clip(code, 40))
	it, err := s.catalog.Item(c.Request.Context(), code)
	if err != nil {
		return it, err
	}
	if it.Status != catalog.StatusPublished && !catalog.CanSeeAll(principal(c)) {
		return catalog.Item{}, errs.NotFound("catalogue item %s not found", clip(code, 40))
	}
	return it, nil
}

func checkStatus(c *gin.Context, st string) error {
	switch catalog.Status(st) {
	case catalog.StatusDraft, catalog.StatusPublished, catalog.StatusWithdrawn:
	default:
		return errs.InvalidFields("bad query parameter", errs.FieldError{Pointer: "?status", Reason: "draft, published or withdrawn", Value: clip(st, 20)})
	}
	if catalog.Status(st) != catalog.StatusPublished && !catalog.CanSeeAll(principal(c)) {
		return errs.Forbidden("only data admins, admins, auditors and importers see unpublished items")
	}
	return nil
}

func catalogFilter(c *gin.Context) (catalog.Filter, error) {
	f := catalog.Filter{Library: c.Query("library"), Department: c.Query("department"), ShareType: c.Query("share_type"),
		Format: c.Query("format"), UpdateCycle: c.Query("update_cycle")}
	st := c.Query("status")
	switch {
	case st != "":
		if err := checkStatus(c, st); err != nil {
			return f, err
		}
		f.Status = catalog.Status(st)
	case !catalog.CanSeeAll(principal(c)):
		f.Status = catalog.StatusPublished
	}
	return f, nil
}

// reviewGrants runs after an item's content or status changed: grants that
// no longer fit it (the item is withdrawn or 不予共享, or granted fields left
// it) are revoked or narrowed at once, named in the audit entry and counted
// in the X-Grants-Reviewed header. The item change itself is committed; if
// the review fails the header says so and names the call that repeats it.
func (s *Server) reviewGrants(c *gin.Context, codes ...string) {
	if s.sharing == nil || len(codes) == 0 {
		return
	}
	n := 0
	for _, code := range codes {
		ms, err := s.sharing.ReviewGrants(c.Request.Context(), principal(c), code)
		if err != nil {
			s.log.Error("grant review after item change failed", "item", code, "request_id", requestID(c), "error", err)
			c.Header("X-Grants-Reviewed", "failed; an admin can repeat it with POST /v1/items/"+code+"/review-grants")
			return
		}
		for _, m := range ms {
			noteResource(c, "grant", m.Grant.ID)
		}
		n += len(ms)
	}
	c.Header("X-Grants-Reviewed", strconv.Itoa(n))
}
