# expect: environment: a lower-case name of letters, digits and '-' that starts with a letter, found 'Diabetes'
environment = "Diabetes"
