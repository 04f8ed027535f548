package ffi

import (
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/lkcore/lkcore/capi/ffipb"
)

// include/lkcore.h repeats the schema's ErrorCode values as LK_OK / LK_ERR_* and the ABI
// version; this keeps them identical.
func TestHeaderMatchesSchema(t *testing.T) {
	src, err := os.ReadFile("../../../include/lkcore.h")
	if err != nil {
		t.Fatal(err)
	}
	defs := map[string]int64{}
	for _, m := range regexp.MustCompile(`(?m)^#define (LK_(?:OK|ERR_[A-Z_]+|ABI_VERSION_MAJOR|ABI_VERSION_MINOR)) (\d+)`).FindAllSubmatch(src, -1) {
		v, _ := strconv.ParseInt(string(m[2]), 10, 64)
		defs[string(m[1])] = v
	}
	if defs["LK_ABI_VERSION_MAJOR"] != ABIVersionMajor || defs["LK_ABI_VERSION_MINOR"] != ABIVersionMinor {
		t.Errorf("header ABI version %d.%d, library %d.%d", defs["LK_ABI_VERSION_MAJOR"], defs["LK_ABI_VERSION_MINOR"], ABIVersionMajor, ABIVersionMinor)
	}
	n := 0
	for name, num := range ffipb.ErrorCode_value {
		macro := "LK_ERR_" + name[len("ERROR_CODE_"):]
		if num == 0 {
			macro = "LK_OK"
		}
		v, ok := defs[macro]
		if !ok {
			t.Errorf("%s (%s = %d) missing from lkcore.h", macro, name, num)
			continue
		}
		if v != int64(num) {
			t.Errorf("%s = %d in lkcore.h, %d in the schema", macro, v, num)
		}
		n++
	}
	if codes := len(defs) - 2; codes != n {
		t.Errorf("lkcore.h defines %d status codes, the schema %d", codes, len(ffipb.ErrorCode_value))
	}
}
