// --name-template: every expected name below is written by hand from the
// rules in farm/coord/name_template.h.
#include "farm/coord/name_template.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "farm/coord/image_metadata.h"
#include "farm/coord/utf8.h"
#include "farm/core/error.h"

namespace farm {
namespace {

constexpr std::string_view kDate = "2024-05-06";

JobItem item(std::string prompt = "a red circle", std::int64_t index = 7) {
  JobItem it;
  it.index = index;
  it.source = "p.txt";
  it.line = static_cast<int>(index) + 1;
  it.prompt = std::move(prompt);
  it.seed = 42;
  it.steps = 25;
  it.guidance = 1.5f;
  it.width = 64;
  it.height = 96;
  it.sampler = "ddim";
  return it;
}

std::string name(std::string_view templ, const JobItem& it) { return NameTemplate(templ).file_name(it, kDate); }

std::string repeat(std::string_view s, int n) {
  std::string out;
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

std::string template_error(std::string_view templ) {
  try {
    NameTemplate t(templ);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no error for template '" << templ << "'";
  return "";
}

#define EXPECT_CONTAINS(haystack, needle)                                   \
  do {                                                                      \
    const std::string h_ = (haystack);                                      \
    EXPECT_NE(h_.find(needle), std::string::npos) << "'" << h_ << "' lacks '" << (needle) << "'"; \
  } while (0)

TEST(NameTemplate, DefaultGivesTodaysNames) {
  const NameTemplate t(NameTemplate::kDefault);
  JobItem it = item();
  it.index = 0;
  EXPECT_EQ(t.file_name(it, kDate), "00000-42.png");
  it.index = 99999;
  it.seed = 4294967295;
  EXPECT_EQ(t.file_name(it, kDate), "99999-4294967295.png");
  it.index = 123456;
  it.seed = 0;
  EXPECT_EQ(t.file_name(it, kDate), "123456-0.png");
  it.seed = 9223372036854775807;
  EXPECT_EQ(t.file_name(it, kDate), "123456-9223372036854775807.png");
  EXPECT_EQ(t.file_name(it, kDate), image_file_name(it));
  EXPECT_FALSE(t.has_folders());
}

TEST(NameTemplate, EveryField) {
  EXPECT_EQ(name("{date}/{index:3}_{seed}_{steps}_{sampler}_{width}x{height}_{prompt}", item()),
            "2024-05-06/007_42_25_ddim_64x96_a_red_circle.png");
  EXPECT_TRUE(NameTemplate("{date}/{index}").has_folders());
}

TEST(NameTemplate, IndexWidth) {
  EXPECT_EQ(name("{index:1}", item()), "7.png");
  EXPECT_EQ(name("{index:03}", item()), "007.png");
  EXPECT_EQ(name("{index:3}", item("p", 1234)), "1234.png");  // padded, never cut
  EXPECT_EQ(name("{index:19}", item("p", 5)), "0000000000000000005.png");
}

TEST(NameTemplate, LiteralTextAndBraces) {
  EXPECT_EQ(name("img {index} (seed {seed})", item()), "img 00007 (seed 42).png");
  EXPECT_EQ(name("{{{index}}}", item()), "{00007}.png");
  EXPECT_EQ(name("v2{index}", item()), "v200007.png");  // a literal digit beside {index} is fixed text
  EXPECT_EQ(name("画像-{index}", item()), "画像-00007.png");
  EXPECT_EQ(name("run#1/{index}-{seed}", item()), "run#1/00007-42.png");
}

TEST(NameTemplate, PromptSlug) {
  const auto p = [](std::string prompt) { return name("{index}-{prompt}", item(std::move(prompt))); };
  EXPECT_EQ(p("a cat / dog"), "00007-a_cat_dog.png");
  EXPECT_EQ(p("../../etc/passwd"), "00007-etc_passwd.png");
  EXPECT_EQ(p("a/../b"), "00007-a_.._b.png");  // no separator left, so ".." is just text
  EXPECT_EQ(p(".."), "00007-_.png");
  EXPECT_EQ(p(""), "00007-_.png");
  EXPECT_EQ(p("???"), "00007-_.png");
  EXPECT_EQ(p("a cat..."), "00007-a_cat.png");
  EXPECT_EQ(p("...hidden"), "00007-hidden.png");
  EXPECT_EQ(p("  spaces around  "), "00007-spaces_around.png");
  EXPECT_EQ(p("a  /  b"), "00007-a_b.png");  // one '_' per run
  EXPECT_EQ(p("snake__case v1.5"), "00007-snake__case_v1.5.png");
  EXPECT_EQ(p("a<b>c:d\"e/f\\g|h?i*j"), "00007-a_b_c_d_e_f_g_h_i_j.png");
  EXPECT_EQ(p("line1\nline2\ttab\x01x\x7f"), "00007-line1_line2_tab_x.png");
  EXPECT_EQ(p("a\u0085b\u009Fc"), "00007-a_b_c.png");            // C1 controls
  EXPECT_EQ(p("a\u00A0b\u3000c\u2009d"), "00007-a_b_c_d.png");    // NBSP, ideographic and thin spaces
  EXPECT_EQ(p("photo\u202Egpj.exe"), "00007-photo_gpj.exe.png");  // right-to-left override
  EXPECT_EQ(p("\uFEFFbom"), "00007-bom.png");
  EXPECT_EQ(p("a\xFF" "b"), "00007-a_b.png");                      // ill-formed UTF-8
  EXPECT_EQ(p("🐱 cat"), "00007-\xF0\x9F\x90\xB1_cat.png");
  EXPECT_EQ(p("猫が好き"), "00007-猫が好き.png");
  EXPECT_EQ(p("café Ωmega"), "00007-café_Ωmega.png");
  EXPECT_EQ(p("👨\u200D👩\u200D👧"), "00007-👨\u200D👩\u200D👧.png");  // ZWJ kept: the family stays one emoji
}

TEST(NameTemplate, LongPromptsAreCutAtCodePoints) {
  // "00007-" + ".png" = 10 bytes; 1 byte kept for the device-name guard:
  // the prompt gets 200 - 1 - 10 = 189 bytes.
  const auto p = [](std::string prompt) { return name("{index}-{prompt}", item(std::move(prompt))); };
  EXPECT_EQ(p(std::string(300, 'a')), "00007-" + std::string(189, 'a') + ".png");
  EXPECT_EQ(p(std::string(300, 'a')).size(), 199u);
  EXPECT_EQ(p(repeat("é", 150)), "00007-" + repeat("é", 94) + ".png");  // 2 bytes each: 188
  EXPECT_EQ(p(repeat("猫", 100)), "00007-" + repeat("猫", 63) + ".png");  // 3 bytes each: 189
  EXPECT_EQ(p(repeat("🐱", 100)), "00007-" + repeat("🐱", 47) + ".png");  // 4 bytes each: 188
  EXPECT_EQ(p(std::string(188, 'a') + ".bbbb"), "00007-" + std::string(188, 'a') + ".png");  // cut, then "." dropped
  EXPECT_EQ(p(std::string(188, 'a') + "  bbbb"), "00007-" + std::string(188, 'a') + ".png");  // "_" dropped

  // A folder has no ".png": 200 - 1 = 199 bytes.
  EXPECT_EQ(name("{prompt}/{index}", item(std::string(300, 'a'))), std::string(199, 'a') + "/00007.png");
  // Two prompts in one name share what is left: (200 - 1 - 11) / 2 = 94 each.
  EXPECT_EQ(name("{prompt}-{index}-{prompt}", item(std::string(300, 'a'))),
            std::string(94, 'a') + "-00007-" + std::string(94, 'a') + ".png");
}

TEST(NameTemplate, WindowsDeviceNamesGetAnUnderscore) {
  EXPECT_EQ(name("{prompt}/{index}", item("CON")), "_CON/00007.png");
  EXPECT_EQ(name("{prompt}/{index}", item("nul")), "_nul/00007.png");
  EXPECT_EQ(name("{prompt}/{index}", item("COM1")), "_COM1/00007.png");
  EXPECT_EQ(name("{prompt}/{index}", item("lpt9")), "_lpt9/00007.png");
  EXPECT_EQ(name("{prompt}/{index}", item("com\u00B9")), "_com\u00B9/00007.png");
  EXPECT_EQ(name("{prompt}/{index}", item("aux.txt")), "_aux.txt/00007.png");  // the stem decides
  EXPECT_EQ(name("{prompt}.{index}", item("Prn")), "_Prn.00007.png");
  EXPECT_EQ(name("con .{index}", item()), "_con .00007.png");  // Windows drops the space before the dot
  EXPECT_EQ(name("con/{index}", item()), "_con/00007.png");
  // Not device names: the stem is longer.
  EXPECT_EQ(name("{prompt}-{index}", item("CON")), "CON-00007.png");
  EXPECT_EQ(name("{prompt}/{index}", item("CONSOLE")), "CONSOLE/00007.png");
  EXPECT_EQ(name("{prompt}/{index}", item("LPT10")), "LPT10/00007.png");
  EXPECT_EQ(name("{prompt}/{index}", item("COM")), "COM/00007.png");
}

TEST(NameTemplate, NastyPromptsStayInsideTheOutputFolder) {
  const std::vector<std::string> prompts = {
      "", "..", ".", "/", "/etc/passwd", "../../x", "C:\\Windows\\x", "a/./b", "CON", "nul.png", "x.",
      " . ", "\t\n\r", "\x01\x02", repeat("🐱", 300), repeat("/..", 200), std::string(1000, '.'),
      repeat("é", 1000) + "\xC3",  // ill-formed tail
  };
  const std::vector<std::string> templates = {"{index}-{prompt}", "{prompt}/{index}", "{prompt}-{index}",
                                              "{date}/{prompt}/{prompt}-{index}-{seed}", "{prompt}.{index}"};
  for (const std::string& t : templates) {
    for (const std::string& prompt : prompts) {
      const std::string path = name(t, item(prompt));
      SCOPED_TRACE(t + " <- " + prompt);
      EXPECT_FALSE(utf8::first_invalid_byte(path).has_value());
      ASSERT_NE(path.front(), '/');
      std::size_t begin = 0;
      while (begin <= path.size()) {
        const std::size_t end = std::min(path.find('/', begin), path.size());
        const std::string component = path.substr(begin, end - begin);
        EXPECT_FALSE(component.empty());
        EXPECT_LE(component.size(), kMaxComponentBytes);
        EXPECT_NE(component.front(), '.');
        EXPECT_NE(component.back(), '.');
        EXPECT_NE(component.back(), ' ');
        EXPECT_EQ(component.find_first_of("<>:\"\\|?*\t\n\r\x01\x02"), std::string::npos) << component;
        begin = end + 1;
      }
    }
  }
}

TEST(FileNameSlug, CutToTheGivenBytes) {
  EXPECT_EQ(file_name_slug("abc", 1), "a");
  EXPECT_EQ(file_name_slug("猫", 2), "_");  // no room for one whole code point
  EXPECT_EQ(file_name_slug("a.b", 2), "a");
  EXPECT_EQ(file_name_slug("ab猫", 4), "ab");
}

TEST(NameTemplateErrors, NameTheFlagAndWhatWasExpected) {
  EXPECT_CONTAINS(template_error("{foo}-{index}"),
                  "--name-template '{foo}-{index}': unknown field {foo} (expected {index}, {index:N}, {seed}, "
                  "{prompt}, {steps}, {sampler}, {width}, {height} or {date})");
  EXPECT_CONTAINS(template_error("{Index}"), "unknown field {Index}");
  EXPECT_CONTAINS(template_error("{index"), "--name-template '{index': '{' at byte 0 is not closed by '}'");
  EXPECT_CONTAINS(template_error("{ind{ex}"), "'{' at byte 0 is not closed by '}'");
  EXPECT_CONTAINS(template_error("{index}}"), "'}' at byte 7 closes no '{' (write '}}' for a literal brace)");
  EXPECT_CONTAINS(template_error("index}-{seed"), "'}' at byte 5 closes no '{'");
  EXPECT_CONTAINS(template_error(""), "--name-template '': is empty");
  EXPECT_CONTAINS(template_error("{seed}-{prompt}"), "has no {index} (expected {index} somewhere");
  EXPECT_CONTAINS(template_error("{{index}}"), "has no {index}");  // braces escaped: literal text
}

TEST(NameTemplateErrors, PathsThatWouldLeaveTheOutputFolder) {
  EXPECT_CONTAINS(template_error("/{index}"), "begins with '/': names are relative to --out");
  EXPECT_CONTAINS(template_error("/tmp/{index}"), "begins with '/'");
  EXPECT_CONTAINS(template_error("a//{index}"), "has an empty folder name");
  EXPECT_CONTAINS(template_error("{index}/"), "has an empty folder name");
  for (const char* t : {"../{index}", "./{index}", "a/../{index}", "a/./{index}", "..{index}", ".{index}",
                        "{index}.", "{index} ", " {index}", "a /{index}", "{date}./{index}"}) {
    EXPECT_CONTAINS(template_error(t), "begins or ends with '.' or ' '");
  }
  EXPECT_CONTAINS(template_error("a\\{index}"), "'\\' at byte 1 is reserved in file names");
  EXPECT_CONTAINS(template_error("C:{index}"), "':' at byte 1 is reserved");
  for (const char* t : {"<{index}", ">{index}", "\"{index}", "|{index}", "?{index}", "*{index}"}) {
    EXPECT_CONTAINS(template_error(t), "at byte 0 is reserved");
  }
  EXPECT_CONTAINS(template_error("{index}\n"), "control character U+000A at byte 7");
  EXPECT_CONTAINS(template_error("a\u0085{index}"), "control character U+0085 at byte 1");
  EXPECT_CONTAINS(template_error("\xFF{index}"), "invalid UTF-8 at byte 0");
}

TEST(NameTemplateErrors, FieldsAndWidths) {
  EXPECT_CONTAINS(template_error("{index}{seed}"), "{index} touches another field");
  EXPECT_CONTAINS(template_error("{prompt}{index}"), "{index} touches another field");
  for (const char* t : {"{index:0}", "{index:20}", "{index:x}", "{index:}", "{index:5d}", "{index:-1}"}) {
    EXPECT_CONTAINS(template_error(t), "expected {index:N} with N a number of digits in 1..19");
  }
  EXPECT_CONTAINS(template_error("{index}-{seed:3}"), "field {seed} takes no format, got {seed:3}");
  // 200 + {index} at its widest (19) + ".png" + the device-name guard = 224.
  EXPECT_CONTAINS(template_error(std::string(200, 'a') + "{index}"),
                  "can be 224 bytes long (expected at most 200 bytes per file or folder name");
  EXPECT_CONTAINS(template_error(std::string(201, 'a') + "/{index}"), "can be 202 bytes long");
  NameTemplate(std::string(176, 'a') + "{index}");  // 176 + 19 + 4 + 1 = 200 fits
}

TEST(NameTemplate, FileNamesForAJob) {
  const NameTemplate t("{prompt}-{index}");
  const std::vector<JobItem> items = {item("cat", 0), item("dog", 1), item("cat", 2)};
  EXPECT_EQ(t.file_names(items, kDate), (std::vector<std::string>{"cat-00000.png", "dog-00001.png", "cat-00002.png"}));
}

TEST(NameTemplate, FileNamesThatCollideAreAnError) {
  // {index} keeps a real job's names apart; this guards what the template
  // rules cannot prove, here names equal but for case (one file on Windows
  // and macOS).
  JobItem a = item("Cat", 3), b = item("cat", 3);
  b.line = 9;
  try {
    NameTemplate("{prompt}-{index}").file_names({a, b}, kDate);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_CONTAINS(e.what(), "--name-template '{prompt}-{index}': p.txt:4 and p.txt:9 would both be written to "
                              "cat-00003.png");
  }
}

}  // namespace
}  // namespace farm
