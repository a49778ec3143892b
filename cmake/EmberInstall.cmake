# Installation and the exported CMake package (filled in by issue 6).
