# expect: accounts.role: expected one of 'standalone', 'registry' or 'consumer', found 'shared'
accounts = {
  role = "shared"
}
