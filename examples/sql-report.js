// sql-report.js: sql.New and a database handle's Ping, Exec, Query, Close.
//
// Writes a row per main() call into the table $EXAMPLE_TABLE
// (hats_example_ticks unless set) and logs how many rows each worker wrote.
// The database is $EXAMPLE_MYSQL_DSN, mysql://root@127.0.0.1:3306/test
// unless set; the Go driver's form root@tcp(127.0.0.1:3306)/test works as
// well.
//
//   EXAMPLE_MYSQL_DSN=mysql://app:secret@127.0.0.1:3306/app \
//     target/debug/worker --scripts examples/sql-report.js --run-now
//
// Remove the table afterwards with: DROP TABLE hats_example_ticks;

var dsn = env.Get("EXAMPLE_MYSQL_DSN") || "mysql://root@127.0.0.1:3306/test";
// A table name cannot be a bound argument, so it is checked instead.
var table = env.Get("EXAMPLE_TABLE") || "hats_example_ticks";
var db = null;

function init() {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(table)) {
    console.error("EXAMPLE_TABLE `" + table + "` is not a plain table name");
    thread.Disable();
    return;
  }
  // sql.New checks the driver and the DSN and connects on first use; a bad
  // DSN or another driver than "mysql" gives an error string instead.
  db = sql.New(dsn, "mysql");
  if (typeof db === "string") {
    console.error(db);
    thread.Disable();
    return;
  }
  // Ping (and Close) return null, or an error string.
  var err = db.Ping();
  if (err !== null) {
    console.error("cannot use the database, disabling this thread: " + err);
    thread.Disable();
    return;
  }
  db.Exec("CREATE TABLE IF NOT EXISTS " + table + " (" +
          "id BIGINT AUTO_INCREMENT PRIMARY KEY, worker VARCHAR(100), " +
          "at DATETIME(3), note VARCHAR(200))");
}

function main() {
  // Arguments are bound to the ? placeholders, never pasted into the text.
  // Exec gives the number of rows it changed, or undefined on an error (the
  // error itself is on the thread's log already).
  var added = db.Exec("INSERT INTO " + table + " (worker, at, note) VALUES (?, NOW(3), ?)",
                      worker.Name, "a tick from " + thread.Key);
  if (added === undefined) {
    return;
  }

  // Query gives an array of {column: value} rows, or null on an error.
  // Counts are numbers; DATETIME values are ISO-8601 strings.
  var rows = db.Query("SELECT worker, COUNT(*) AS ticks, MAX(at) AS last FROM " + table +
                      " GROUP BY worker ORDER BY ticks DESC LIMIT 5");
  if (rows === null) {
    return;
  }
  rows.forEach(function (row) {
    console.log(row.worker + ": " + row.ticks + " ticks, the last at " + row.last);
  });
}

function cleanup() {
  if (db !== null && typeof db !== "string") {
    db.Close();
  }
}
