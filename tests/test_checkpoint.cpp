#include <catch2/catch.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <iterator>
#include <stdlib.h>

#include <ember/ember.h>
#include <ember/data/safetensors.h>
#include <ember/nn/checkpoint.h>
#include <ember/nn/mnist_net.h>
#include <ember/optim/adam.h>
#include <ember/optim/sgd.h>

#include "support/test_support.h"

using namespace ember;

namespace {

std::string temp_dir() {
  char pattern[] = "/tmp/ember_ckpt_XXXXXX";
  char* dir = mkdtemp(pattern);
  REQUIRE(dir != nullptr);
  return dir;
}

std::vector<std::string> list_dir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = readdir(d)) {
    std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  closedir(d);
  return names;
}

std::vector<char> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// One SGD step on a fixed batch.
void train_step(nn::MnistNet& net, optim::Optimizer& opt, const Tensor& x, const Tensor& y) {
  opt.zero_grad();
  cross_entropy(net.forward_logits(x), y).backward();
  opt.step();
}

// A file with the given JSON header and data bytes.
std::vector<char> make_file(const std::string& header, size_t data_bytes) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (size_t i = 0; i < 8; ++i) out[i] = static_cast<char>(n >> (8 * i));
  out += header;
  out.append(data_bytes, '\0');
  return std::vector<char>(out.begin(), out.end());
}

// A sparse file: the header (with its 8-byte length) followed by size bytes of zeros that take no disk.
void write_sparse(const std::string& path, const std::string& header, uint64_t size) {
  write_bytes(path, make_file(header, 0));
  REQUIRE(::truncate(path.c_str(), static_cast<off_t>(8 + header.size() + size)) == 0);
}

// Copies a checkpoint with some of its metadata replaced (a value of "" removes the key).
std::string with_metadata(const std::string& from, const std::string& to,
                          const std::map<std::string, std::string>& changes) {
  data::SafetensorsFile file = data::load_safetensors(from);
  for (const auto& [key, value] : changes) {
    if (value.empty()) file.metadata.erase(key);
    else file.metadata[key] = value;
  }
  data::save_safetensors(to, file.tensors, file.metadata);
  return to;
}

// Lowers the address-space limit to what the process maps now plus headroom, for the scope.
struct AddressSpaceLimit {
  rlimit saved{};
  bool active = false;
  explicit AddressSpaceLimit(uint64_t headroom) {
    std::ifstream status("/proc/self/status");
    std::string line;
    uint64_t vm_kb = 0;
    while (std::getline(status, line)) {
      if (line.rfind("VmSize:", 0) == 0) vm_kb = std::stoull(line.substr(7));
    }
    if (vm_kb == 0 || ::getrlimit(RLIMIT_AS, &saved) != 0) return;
    rlimit lower = saved;
    lower.rlim_cur = static_cast<rlim_t>(vm_kb * 1024 + headroom);
    if (saved.rlim_cur != RLIM_INFINITY && lower.rlim_cur > saved.rlim_cur) return;
    active = ::setrlimit(RLIMIT_AS, &lower) == 0;
  }
  ~AddressSpaceLimit() {
    if (active) ::setrlimit(RLIMIT_AS, &saved);
  }
};

}  // namespace

TEST_CASE("safetensors round trip of every dtype with metadata", "[checkpoint]") {
  std::string dir = temp_dir();
  std::map<std::string, Tensor> tensors{
      {"a", testing::random_tensor({2, 3}, 1, -1, 1, kFloat32)},
      {"b", testing::random_tensor({4}, 2, -1, 1, kFloat64)},
      {"c", from_vector(std::vector<int64_t>{-5, 7, 1LL << 40}, {3})},
      {"d", from_vector(std::vector<uint8_t>{1, 2, 255}, {3, 1})},
      {"scalar", scalar_tensor(3.5)},
      {"strided", testing::random_tensor({3, 4}, 3, -1, 1, kFloat32).t()}};
  data::save_safetensors(dir + "/t.safetensors", tensors, {{"note", "hello"}});
  std::vector<char> bytes = read_bytes(dir + "/t.safetensors");
  uint64_t header = 0;
  for (int i = 0; i < 8; ++i) header |= uint64_t(static_cast<unsigned char>(bytes[static_cast<size_t>(i)])) << (8 * i);
  CHECK(header % 8 == 0);
  CHECK(std::string(bytes.begin() + 8, bytes.begin() + 8 + static_cast<long>(header)).find("\"F32\"") != std::string::npos);

  data::SafetensorsFile file = data::load_safetensors(dir + "/t.safetensors");
  CHECK(file.metadata == std::map<std::string, std::string>{{"note", "hello"}});
  REQUIRE(file.tensors.size() == tensors.size());
  for (auto& [name, t] : tensors) {
    INFO(name);
    const Tensor& r = file.tensors.at(name);
    CHECK(r.sizes() == t.sizes());
    CHECK(r.dtype() == t.dtype());
    CHECK(r.to_vector<double>() == t.to_vector<double>());
  }
}

TEST_CASE("checkpoint save/load restores identical outputs and training", "[checkpoint]") {
  std::string dir = temp_dir();
  std::string path = dir + "/net.safetensors";
  Generator g1(11), g2(22);
  nn::MnistNet a(&g1), b(&g2);
  optim::SGD opt_a(a.parameters(), optim::SGDOptions(0.05).momentum(0.9));
  optim::SGD opt_b(b.parameters(), optim::SGDOptions(0.5).momentum(0.9));
  Tensor x = testing::random_tensor({6, 1, 28, 28}, 5, 0, 1, kFloat32);
  Tensor y = from_vector(std::vector<int64_t>{0, 1, 2, 3, 4, 5}, {6});
  train_step(a, opt_a, x, y);

  Generator rng(77);
  rng.reserve(123);
  nn::save_checkpoint(path, a, &opt_a, 3, rng.state(), {{"run", "unit-test"}});
  CHECK(list_dir(dir) == std::vector<std::string>{"net.safetensors"});  // no temporary file left

  nn::CheckpointInfo info = nn::load_checkpoint(path, b, &opt_b);
  CHECK(info.epoch == 3);
  CHECK(info.generator_state.seed == 77);
  CHECK(info.generator_state.offset == 123);
  CHECK(info.metadata == std::map<std::string, std::string>{{"run", "unit-test"}});
  CHECK(opt_b.lr() == 0.05);
  CHECK(b.forward(x).to_vector<float>() == a.forward(x).to_vector<float>());

  // Training continues identically (the momentum buffers came back too).
  train_step(a, opt_a, x, y);
  train_step(b, opt_b, x, y);
  CHECK(b.forward(x).to_vector<float>() == a.forward(x).to_vector<float>());

  // The model tensors use PyTorch's names; the optimizer's sit under optim.
  data::SafetensorsFile file = data::load_safetensors(path);
  CHECK(file.tensors.count("conv1.weight"));
  CHECK(file.tensors.count("fc2.bias"));
  CHECK(file.tensors.count("optim.0.momentum_buffer"));
  CHECK(file.metadata.at("optim.type") == "SGD");

  // Overwriting is atomic too and leaves only the file.
  nn::save_checkpoint(path, a, nullptr, 4, rng.state());
  CHECK(list_dir(dir) == std::vector<std::string>{"net.safetensors"});
  CHECK_THROWS_WITH(nn::load_checkpoint(path, b, &opt_b), Catch::Contains("no optimizer state"));
  CHECK(nn::load_checkpoint(path, b).epoch == 4);
  CHECK_THROWS_WITH(nn::save_checkpoint(path, a, nullptr, 0, {}, {{"ember.epoch", "9"}}), Catch::Contains("reserved"));
}

// Resuming from a checkpoint: a StepLR made after load_checkpoint continues the schedule (the
// optimizer's initial_lr travels in the checkpoint, as PyTorch's param_group["initial_lr"]).
TEST_CASE("checkpoint: a StepLR made after loading gives the uninterrupted run's lr", "[checkpoint][optim]") {
  std::string dir = temp_dir();
  std::string path = dir + "/net.safetensors";
  Generator g1(11), g2(11);
  nn::MnistNet a(&g1), b(&g2);
  optim::SGD opt_a(a.parameters(), optim::SGDOptions(0.1).momentum(0.9));
  optim::StepLR sched_a(opt_a, 1, 0.7);
  sched_a.step();
  sched_a.step();  // after 2 epochs
  nn::save_checkpoint(path, a, &opt_a, 2, default_generator().state());
  CHECK(data::load_safetensors(path).metadata.at("optim.initial_lr") == "0.10000000000000001");

  optim::SGD opt_b(b.parameters(), optim::SGDOptions(0.1).momentum(0.9));
  nn::CheckpointInfo info = nn::load_checkpoint(path, b, &opt_b);
  optim::StepLR sched_b(opt_b, 1, 0.7);  // made after loading
  sched_b.set_epoch(info.epoch);
  CHECK(opt_b.lr() == opt_a.lr());
  sched_a.step();
  sched_b.step();
  CHECK(opt_b.lr() == opt_a.lr());

  // A checkpoint written before Ember saved initial_lr: the lr the optimizer was made with.
  std::string old = with_metadata(path, dir + "/old.safetensors", {{"optim.initial_lr", ""}});
  optim::SGD opt_c(b.parameters(), optim::SGDOptions(0.1).momentum(0.9));
  info = nn::load_checkpoint(old, b, &opt_c);
  optim::StepLR sched_c(opt_c, 1, 0.7);
  sched_c.set_epoch(info.epoch + 1);
  CHECK(opt_c.lr() == opt_a.lr());
}

// Tied weights: the checkpoint has every name; loading fills the one tensor and keeps the tie.
TEST_CASE("checkpoint of a module with a tensor registered twice", "[checkpoint][nn]") {
  struct Tied : nn::Module {
    Tied() : nn::Module("Tied") {
      p1 = register_parameter("p1", ones({2}));
      p2 = register_parameter("p2", p1);
    }
    Tensor p1, p2;
  };
  std::string path = temp_dir() + "/tied.safetensors";
  Tied a, b;
  optim::SGD opt_a(a.parameters(), optim::SGDOptions(0.1).momentum(0.9));
  sum(a.p1).backward();
  opt_a.step();
  nn::save_checkpoint(path, a, &opt_a, 1, {});
  data::SafetensorsFile file = data::load_safetensors(path);
  CHECK((file.tensors.count("p1") && file.tensors.count("p2") && file.tensors.count("optim.0.momentum_buffer")));
  CHECK(!file.tensors.count("optim.1.momentum_buffer"));
  optim::SGD opt_b(b.parameters(), optim::SGDOptions(0.1).momentum(0.9));
  nn::load_checkpoint(path, b, &opt_b);
  CHECK(b.p1.to_vector<float>() == std::vector<float>{0.9f, 0.9f});
  CHECK(b.p2.is_same(b.p1));
}

// The model and optimizer parts are both checked before either is written: an optimizer part that
// does not fit no longer leaves the model's weights replaced behind a refused load.
TEST_CASE("a refused checkpoint leaves the model and the optimizer untouched", "[checkpoint][optim]") {
  std::string dir = temp_dir();
  std::string path = dir + "/net.safetensors";
  Generator g1(11), g2(22);
  nn::MnistNet a(&g1), b(&g2);
  optim::Adam opt_a(a.parameters(), optim::AdamOptions(0.01));
  Tensor x = testing::random_tensor({2, 1, 28, 28}, 5, 0, 1, kFloat32);
  Tensor y = from_vector(std::vector<int64_t>{0, 1}, {2});
  train_step(a, opt_a, x, y);
  nn::save_checkpoint(path, a, &opt_a, 1, {});
  std::vector<float> b_out = b.forward(x).to_vector<float>();
  REQUIRE(b_out != a.forward(x).to_vector<float>());

  // An Adam over fewer parameters: the checkpoint's state for parameter 1 has nowhere to go.
  optim::Adam fewer({b.conv1->weight}, optim::AdamOptions(0.5));
  CHECK_THROWS_WITH(nn::load_checkpoint(path, b, &fewer), Catch::Contains("unexpected state tensor '1.exp_avg'"));
  CHECK(b.forward(x).to_vector<float>() == b_out);
  CHECK(fewer.lr() == 0.5);
  CHECK(fewer.state_dict().tensors.empty());

  // A hyperparameter Adam refuses.
  std::string bad_beta = with_metadata(path, dir + "/beta.safetensors", {{"optim.beta1", "1.5"}});
  optim::Adam opt_b(b.parameters(), optim::AdamOptions(0.5));
  CHECK_THROWS_WITH(nn::load_checkpoint(bad_beta, b, &opt_b), Catch::Contains("betas must be in [0, 1)"));
  CHECK(b.forward(x).to_vector<float>() == b_out);
  CHECK(opt_b.lr() == 0.5);

  // A model part that does not fit (another net) leaves the optimizer as it was.
  Generator g3(33);
  nn::Linear other(4, 2, &g3);
  optim::Adam opt_other(other.parameters(), optim::AdamOptions(0.5));
  std::vector<float> other_weight = other.weight.to_vector<float>();
  CHECK_THROWS_WITH(nn::load_checkpoint(path, other, &opt_other), Catch::Contains("load_state_dict: missing key"));
  CHECK((opt_other.lr() == 0.5 && other.weight.to_vector<float>() == other_weight));

  // The good load still works.
  nn::load_checkpoint(path, b, &opt_b);
  CHECK(b.forward(x).to_vector<float>() == a.forward(x).to_vector<float>());
  CHECK(opt_b.lr() == 0.01);
}

// A strict load checks every entry before copying any: a mis-shaped later entry leaves the earlier
// ones as they were.
TEST_CASE("a refused load_state_dict leaves the module untouched", "[nn]") {
  Generator g1(1), g2(2);
  nn::Linear a(3, 2, &g1), b(3, 2, &g2);
  std::map<std::string, Tensor> state = a.state_dict();
  state["weight"] = state["weight"].clone();
  state["bias"] = zeros({5});
  std::vector<float> before = b.weight.to_vector<float>();
  CHECK_THROWS_WITH(b.load_state_dict(state), Catch::Contains("size mismatch for 'bias'"));
  CHECK(b.weight.to_vector<float>() == before);
  CHECK_THROWS_WITH(b.check_state_dict(state), Catch::Contains("size mismatch for 'bias'"));
  CHECK_NOTHROW(b.check_state_dict(a.state_dict()));
}

TEST_CASE("corrupt checkpoints are refused with a clear message", "[checkpoint]") {
  std::string dir = temp_dir();
  std::string path = dir + "/net.safetensors";
  nn::MnistNet net;
  nn::save_checkpoint(path, net, nullptr, 1, {});
  std::vector<char> good = read_bytes(path);

  std::vector<char> truncated(good.begin(), good.end() - 100);
  write_bytes(dir + "/truncated", truncated);
  CHECK_THROWS_WITH(nn::load_checkpoint(dir + "/truncated", net),
                    Catch::Contains(dir + "/truncated") && Catch::Contains("outside the data section"));

  write_bytes(dir + "/tiny", {1, 2, 3});
  CHECK_THROWS_WITH(data::load_safetensors(dir + "/tiny"), Catch::Contains("shorter than the 8-byte header"));

  std::vector<char> huge_header = good;
  huge_header[6] = 1;
  write_bytes(dir + "/huge", huge_header);
  CHECK_THROWS_WITH(data::load_safetensors(dir + "/huge"), Catch::Contains("exceeds the file size"));

  write_bytes(dir + "/badjson", make_file("{\"a\": [1, 2", 0));
  CHECK_THROWS_WITH(data::load_safetensors(dir + "/badjson"), Catch::Contains("not valid JSON"));

  write_bytes(dir + "/mismatch", make_file(R"({"a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 12]}})", 12));
  CHECK_THROWS_WITH(data::load_safetensors(dir + "/mismatch"), Catch::Contains("spans 12 bytes but F32 [2, 2] needs 16"));

  write_bytes(dir + "/dtype", make_file(R"({"a": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}})", 4));
  CHECK_THROWS_WITH(data::load_safetensors(dir + "/dtype"), Catch::Contains("unsupported dtype \"BF16\""));

  write_bytes(dir + "/overlap", make_file(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]},
                                               "b": {"dtype": "U8", "shape": [4], "data_offsets": [2, 6]}})", 6));
  CHECK_THROWS_WITH(data::load_safetensors(dir + "/overlap"), Catch::Contains("overlaps"));

  write_bytes(dir + "/nometa", make_file(R"({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}})", 4));
  CHECK_THROWS_WITH(nn::load_checkpoint(dir + "/nometa", net), Catch::Contains("not an Ember checkpoint"));

  // A checkpoint of another model names the offending key.
  nn::Linear other(3, 2);
  nn::save_checkpoint(dir + "/other", other, nullptr, 0, {});
  CHECK_THROWS_WITH(nn::load_checkpoint(dir + "/other", net), Catch::Contains("missing key 'conv1.weight'"));
  CHECK_THROWS_WITH(nn::load_checkpoint(dir + "/absent", net), Catch::Contains("cannot open"));
}

TEST_CASE("checkpoint loading refuses a directory, a device or a FIFO, naming the path", "[checkpoint]") {
  std::string dir = temp_dir();
  nn::MnistNet net;
  CHECK_THROWS_WITH(nn::load_checkpoint(dir, net), Catch::StartsWith(dir + ": is a directory"));
  if (::access("/dev/zero", R_OK) == 0) {
    CHECK_THROWS_WITH(nn::load_checkpoint("/dev/zero", net),
                      Catch::StartsWith("/dev/zero: not a regular file (a character device)"));
  }
  std::string fifo = dir + "/fifo";
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);  // refused before it is opened (opening it would block)
  CHECK_THROWS_WITH(data::load_safetensors(fifo), Catch::StartsWith(fifo + ": not a regular file (a FIFO)"));
  CHECK_THROWS_WITH(nn::load_checkpoint(dir + "/absent", net), Catch::StartsWith(dir + "/absent: cannot open"));
}

TEST_CASE("checkpoint loading bounds what it reads by the header and the file size", "[checkpoint]") {
  std::string dir = temp_dir();
  nn::MnistNet net;

  // A header length within the file but over the format's 100 MB limit (a sparse file).
  std::string big_header = dir + "/big_header";
  write_bytes(big_header, make_file("", 0));
  {
    std::fstream f(big_header, std::ios::in | std::ios::out | std::ios::binary);
    const char length[8] = {0, 0, 0, 10, 0, 0, 0, 0};  // 160 MB
    f.write(length, 8);
  }
  REQUIRE(::truncate(big_header.c_str(), 8 + (200 << 20)) == 0);
  CHECK_THROWS_WITH(data::load_safetensors(big_header),
                    Catch::StartsWith(big_header + ": header length 167772160 exceeds the safetensors limit"));

  // Files far larger than the memory left: nothing is read or allocated before the header and the
  // metadata are judged (sparse files of 2 GB under an address-space limit of 512 MB more).
  std::string huge_tensor = dir + "/huge_tensor", huge_trailing = dir + "/huge_trailing";
  const uint64_t two_gb = uint64_t(2) << 30;
  write_sparse(huge_tensor,
               R"({"a": {"dtype": "U8", "shape": [2147483648], "data_offsets": [0, 2147483648]}})", two_gb);
  write_sparse(huge_trailing, R"({"__metadata__": {"ember.format": "ember-checkpoint-1"}})", two_gb);
  {
    AddressSpaceLimit limit(512 << 20);
    CHECK_THROWS_WITH(nn::load_checkpoint(huge_tensor, net),
                      Catch::StartsWith(huge_tensor + ": not an Ember checkpoint: __metadata__ has no 'ember.format'"));
    CHECK_THROWS_WITH(data::load_safetensors(huge_trailing),
                      Catch::StartsWith(huge_trailing + ": 2147483648 trailing bytes after the last tensor"));
  }
  for (const std::string& sparse : {big_header, huge_tensor, huge_trailing}) ::unlink(sparse.c_str());

  // Headers that would take far more memory parsed than their size, or overflow a size.
  write_bytes(dir + "/deep", make_file(std::string(100000, '[') + std::string(100000, ']'), 0));
  CHECK_THROWS_WITH(data::load_safetensors(dir + "/deep"), Catch::Contains("nests deeper than 3 levels"));
  std::string many = R"({"__metadata__": {)";
  for (int i = 0; i < 300000; ++i) many += (i ? ",\"" : "\"") + std::to_string(i) + "\": \"\"";
  many += "}}";
  write_bytes(dir + "/many", make_file(many, 0));
  CHECK_THROWS_WITH(data::load_safetensors(dir + "/many"), Catch::Contains("holds too many entries"));
  write_bytes(dir + "/overflow", make_file(R"({"a": {"dtype": "U8", "shape": [1099511627776, 1099511627776, 1],
                                                    "data_offsets": [0, 0]}})", 0));
  CHECK_THROWS_WITH(data::load_safetensors(dir + "/overflow"), Catch::Contains("tensor 'a' is too large"));
  write_bytes(dir + "/dup", make_file(R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
                                          "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})", 2));
  CHECK_THROWS_WITH(data::load_safetensors(dir + "/dup"), Catch::Contains("tensor 'a' appears twice"));
  std::string shape65 = "1";
  for (int i = 1; i < 65; ++i) shape65 += ",1";
  write_bytes(dir + "/dims", make_file(R"({"a": {"dtype": "U8", "shape": [)" + shape65 + R"(], "data_offsets": [0, 1]}})", 1));
  CHECK_THROWS_WITH(data::load_safetensors(dir + "/dims"), Catch::Contains("more than 64 dimensions"));
}

TEST_CASE("checkpoint loading refuses unknown format versions", "[checkpoint]") {
  std::string dir = temp_dir();
  std::string good = dir + "/good";
  nn::MnistNet net;
  nn::save_checkpoint(good, net, nullptr, 1, {});
  CHECK(data::load_safetensors(good).metadata.at("ember.format") == "ember-checkpoint-1");
  std::string future = with_metadata(good, dir + "/future", {{"ember.format", "ember-checkpoint-9"}});
  CHECK_THROWS_WITH(nn::load_checkpoint(future, net),
                    Catch::StartsWith(future + ": unsupported checkpoint format 'ember-checkpoint-9'") &&
                        Catch::Contains("ember-checkpoint-1"));
  std::string none = with_metadata(good, dir + "/none", {{"ember.format", ""}});
  CHECK_THROWS_WITH(nn::load_checkpoint(none, net), Catch::StartsWith(none + ": not an Ember checkpoint") &&
                                                        Catch::Contains("'ember.format'"));
  CHECK(nn::load_checkpoint(good, net).epoch == 1);
}

TEST_CASE("checkpoint metadata fields are validated at load time, naming the file and field", "[checkpoint]") {
  std::string dir = temp_dir();
  std::string good = dir + "/good";
  nn::MnistNet net;
  optim::SGD opt(net.parameters(), optim::SGDOptions(0.05).momentum(0.9));
  nn::save_checkpoint(good, net, &opt, 2, {5, 7});
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"ember.epoch", "-5"},  {"ember.epoch", "1.5"},       {"ember.epoch", " 3"},
      {"ember.epoch", "+3"},  {"ember.epoch", "3000000000"}, {"ember.epoch", "abc"},
      {"ember.epoch", "1e3"}, {"ember.rng_seed", "-1"},      {"ember.rng_offset", "99999999999999999999"},
      {"optim.lr", "nan"},    {"optim.lr", "inf"},           {"optim.momentum", "0x1p-1"}};
  int i = 0;
  for (const auto& [key, value] : bad) {
    INFO(key << " = '" << value << "'");
    std::string path = with_metadata(good, dir + "/bad" + std::to_string(i++), {{key, value}});
    CHECK_THROWS_WITH(nn::load_checkpoint(path, net, &opt),
                      Catch::StartsWith(path + ": metadata '" + key + "'") && Catch::Contains("'" + value + "'"));
  }
  nn::CheckpointInfo info = nn::load_checkpoint(with_metadata(good, dir + "/zero", {{"ember.epoch", "0"}}), net, &opt);
  CHECK(info.epoch == 0);
  CHECK(info.generator_state.seed == 5);
  CHECK(info.generator_state.offset == 7);
  CHECK_THROWS_WITH(nn::save_checkpoint(good, net, &opt, -1, {}), Catch::Contains("epoch must be in [0, "));
}
