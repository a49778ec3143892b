// write_file_atomically and unwritable_reason (core/atomic_file.h): contents replaced whole, a
// failed write leaves the old file and no temporary file, folders and devices refused up front.
#include <catch2/catch.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <ember/core/atomic_file.h>

namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

fs::path fresh_folder(const char* name) {
  fs::path folder = fs::temp_directory_path() / (std::string(name) + "-" + std::to_string(::getpid()));
  fs::remove_all(folder);
  fs::create_directories(folder);
  return folder;
}

}  // namespace

TEST_CASE("write_file_atomically replaces a file whole or not at all", "[core]") {
  const fs::path folder = fresh_folder("ember-atomic-file");
  const std::string path = (folder / "metrics.json").string();
  ember::write_file_atomically(path, std::string("first\n"), "test");
  CHECK(read_file(path) == "first\n");
  ember::write_file_atomically(path, std::string("second\n"), "test");
  CHECK(read_file(path) == "second\n");
  // A producer that fails half way: the old contents stay, no temporary file is left.
  CHECK_THROWS_WITH(ember::write_file_atomically(
                        path,
                        [](const ember::ByteSink& sink) {
                          sink("half", 4);
                          throw std::runtime_error("producer failed");
                        },
                        "test"),
                    "producer failed");
  CHECK(read_file(path) == "second\n");
  CHECK(std::distance(fs::directory_iterator(folder), fs::directory_iterator()) == 1);
  // A device is written in place, every write checked: a full disk fails with the path named.
  CHECK_THROWS_WITH(ember::write_file_atomically("/dev/full", std::string("x"), "--metrics-json"),
                    Catch::Contains("--metrics-json: writing /dev/full failed: No space left on device"));
  ember::write_file_atomically("/dev/null", std::string("x"), "test");
  // A symbolic link stays a link; the file it names gets the contents.
  const fs::path link = folder / "latest.json";
  fs::create_symlink("metrics.json", link);
  ember::write_file_atomically(link.string(), std::string("third\n"), "test");
  CHECK(fs::is_symlink(link));
  CHECK(read_file(path) == "third\n");
  CHECK_THROWS_WITH(ember::write_file_atomically(folder.string(), std::string("x"), "test"),
                    Catch::Contains("is a folder"));
  fs::remove_all(folder);
}

TEST_CASE("unwritable_reason names what stops a write before any work", "[core]") {
  const fs::path folder = fresh_folder("ember-unwritable");
  CHECK(ember::unwritable_reason((folder / "out.json").string()).empty());
  CHECK(std::distance(fs::directory_iterator(folder), fs::directory_iterator()) == 0);  // the probe is gone
  CHECK(ember::unwritable_reason(folder.string()) == "'" + folder.string() + "' is a folder");
  CHECK(ember::unwritable_reason((folder / "sub/").string()).find("names a folder") != std::string::npos);
  CHECK(ember::unwritable_reason((folder / "missing" / "out.json").string()).find("does not exist") !=
        std::string::npos);
  CHECK(ember::unwritable_reason("/dev/null").empty());  // a device is written in place
  CHECK(ember::unwritable_reason("") == "the path is empty");
  if (::geteuid() != 0) {  // root writes anywhere
    fs::permissions(folder, fs::perms::owner_read | fs::perms::owner_exec);
    CHECK(ember::unwritable_reason((folder / "out.json").string()).find("cannot create a file") != std::string::npos);
    fs::permissions(folder, fs::perms::owner_all);
  }
  fs::remove_all(folder);
}

TEST_CASE("write_file_atomically keeps the mode of the file it replaces", "[core]") {
  const fs::path folder = fresh_folder("ember-atomic-mode");
  const std::string path = (folder / "ckpt.safetensors").string();
  auto mode_of = [](const std::string& p) {
    struct stat st {};
    REQUIRE(::stat(p.c_str(), &st) == 0);
    return st.st_mode & 0777;
  };
  // A new file: 0666 less the umask, as open() makes it.
  const mode_t mask = ::umask(022);
  ::umask(mask);
  ember::write_file_atomically(path, std::string("new\n"), "test");
  CHECK(mode_of(path) == (0666 & ~mask));
  // A private file stays private, and a wider one keeps its bits, whatever the umask.
  for (mode_t mode : {mode_t{0600}, mode_t{0640}, mode_t{0664}}) {
    INFO(mode);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    ember::write_file_atomically(path, std::string("replaced\n"), "test");
    CHECK(mode_of(path) == mode);
    CHECK(read_file(path) == "replaced\n");
  }
  // Through a symbolic link: the mode of the file it names.
  REQUIRE(::chmod(path.c_str(), 0600) == 0);
  const fs::path link = folder / "latest";
  fs::create_symlink("ckpt.safetensors", link);
  ember::write_file_atomically(link.string(), std::string("via link\n"), "test");
  CHECK(mode_of(path) == 0600);
  CHECK(fs::is_symlink(link));
}
