import FakeSinch
