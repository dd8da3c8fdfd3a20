# cmake -DBUILD_DIR=... -DWORK_DIR=... -DSOURCE_DIR=... -DMODEL_DIR=... -P install_and_build.cmake
# Installs the build into WORK_DIR/prefix, configures and builds tests/consumer against it (nothing
# else on its search path), and runs the consumer on MODEL_DIR.
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
  set(out "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${WORK_DIR}/prefix)
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/build -DCMAKE_BUILD_TYPE=Release
    -DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix -DPython3_EXECUTABLE=${PYTHON})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer ${MODEL_DIR})
message("${out}")
if(NOT out MATCHES "logits \\[1, 3, 128\\]" OR NOT out MATCHES "Trainable params: ")
  message(FATAL_ERROR "unexpected consumer output:\n${out}")
endif()
