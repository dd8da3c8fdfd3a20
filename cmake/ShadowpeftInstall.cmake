# `cmake --install BUILD --prefix DIR`: the libraries, public headers, the CLI and a CMake package,
# so that another project's find_package(shadowpeft) gives the imported target shadowpeft::shadowpeft.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(_layers base tokenizer chat_template data io models shadow peft generate train)
set(_targets shadowpeft)
foreach(layer ${_layers})
  set_target_properties(shadowpeft_${layer} PROPERTIES EXPORT_NAME ${layer})
  list(APPEND _targets shadowpeft_${layer})
endforeach()
install(TARGETS ${_targets} EXPORT shadowpeftTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(TARGETS shadowpeft_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/shadowpeft DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

set(_package_dir ${CMAKE_INSTALL_LIBDIR}/cmake/shadowpeft)
install(EXPORT shadowpeftTargets NAMESPACE shadowpeft:: DESTINATION ${_package_dir})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/shadowpeftConfig.cmake.in
                              ${CMAKE_BINARY_DIR}/shadowpeftConfig.cmake INSTALL_DESTINATION ${_package_dir})
write_basic_package_version_file(${CMAKE_BINARY_DIR}/shadowpeftConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_BINARY_DIR}/shadowpeftConfig.cmake ${CMAKE_BINARY_DIR}/shadowpeftConfigVersion.cmake
              ${CMAKE_CURRENT_LIST_DIR}/ShadowpeftTorch.cmake
        DESTINATION ${_package_dir})
