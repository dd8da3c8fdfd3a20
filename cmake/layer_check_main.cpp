int main() { return 0; }  // see src/CMakeLists.txt: the layering check
