# expect: accounts: role = registry needs consumers (the account id and environment of each consumer)
accounts = {
  role = "registry"
}
