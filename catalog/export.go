package catalog

import (
	"context"
	"io"

	"github.com/xiangyang-gov/sharehub/internal/sheet"
)

// Template writes the empty catalogue workbook: Chinese headers (required
// ones marked *), drop-downs for format, share type, share method, open
// type, update cycle, library and data type, an example row in grey and a
// note on each column, and the second sheet for the fields.
func (s *Service) Template(ctx context.Context, out io.Writer) error {
	spec, err := s.Spec(ctx)
	if err != nil {
		return err
	}
	w, err := sheet.NewWriter(spec, sheet.WriterOptions{Template: true})
	if err != nil {
		return err
	}
	defer w.Close()
	_, err = w.WriteTo(out)
	return err
}

// Export writes the items the filter selects (f.Limit and f.Cursor are
// ignored) in the template's format, so exporting and importing the result
// changes nothing. It returns how many items it wrote.
func (s *Service) Export(ctx context.Context, f Filter, out io.Writer) (int, error) {
	spec, err := s.Spec(ctx)
	if err != nil {
		return 0, err
	}
	libs, err := s.Libraries(ctx)
	if err != nil {
		return 0, err
	}
	libName := map[string]string{}
	for _, l := range libs {
		libName[l.ID] = l.Name
	}
	deps, err := s.departments(ctx)
	if err != nil {
		return 0, err
	}
	w, err := sheet.NewWriter(spec, sheet.WriterOptions{})
	if err != nil {
		return 0, err
	}
	defer w.Close()
	f.Limit, f.Cursor = 0, ""
	n := 0
	err = s.EachItem(ctx, f, func(it Item) error {
		n++
		if err := w.Append(SheetItems, itemRow(&it, deps[it.ProviderID].Code, libName)); err != nil {
			return err
		}
		for _, fl := range it.Fields {
			if err := w.Append(SheetFields, fieldRow(it.Code, it.Name, fl)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return n, err
	}
	_, err = w.WriteTo(out)
	return n, err
}
