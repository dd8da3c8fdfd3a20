# LibTorch headers dominate compile time: every target reuses one precompiled header.
add_library(shadowpeft_pch OBJECT ${CMAKE_CURRENT_LIST_DIR}/pch_anchor.cpp)
target_link_libraries(shadowpeft_pch PUBLIC shadowpeft::torch nlohmann_json::nlohmann_json)
target_precompile_headers(shadowpeft_pch PUBLIC
  <torch/torch.h>
  <nlohmann/json.hpp>
  <fmt/format.h>
  <string>
  <vector>
  <map>
  <memory>
  <filesystem>)

# Give `target` the shared precompiled header (same flags are required for reuse).
function(shadowpeft_use_pch target)
  target_precompile_headers(${target} REUSE_FROM shadowpeft_pch)
endfunction()
