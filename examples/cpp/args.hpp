// Tiny "--name value" argument parser shared by the C++ examples.
#ifndef LKCORE_EXAMPLES_ARGS_HPP
#define LKCORE_EXAMPLES_ARGS_HPP

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

struct Args {
  std::map<std::string, std::string> values;

  // Parses argv; exits with usage on a malformed line or a missing --url/--token.
  Args(int argc, char **argv, const char *usage) {
    for (int i = 1; i < argc; i++) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0 || i + 1 >= argc) {
        std::fprintf(stderr, "usage: %s --url URL --token TOKEN %s\n", argv[0], usage);
        std::exit(2);
      }
      values[a.substr(2)] = argv[++i];
    }
    if (!values.count("url") || !values.count("token")) {
      std::fprintf(stderr, "usage: %s --url URL --token TOKEN %s\n", argv[0], usage);
      std::exit(2);
    }
  }
  std::string get(const std::string &k, const std::string &def = "") const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second;
  }
  long num(const std::string &k, long def) const {
    auto it = values.find(k);
    return it == values.end() ? def : std::strtol(it->second.c_str(), nullptr, 10);
  }
};

#endif
