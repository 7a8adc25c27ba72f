// A pgjdbc session as applications run it, for drivers_test.cpp: java -cp postgresql.jar
// JdbcSession.java URL USER PASSWORD. Prints one line per step; exits non-zero on failure.
import java.sql.*;

public class JdbcSession {
  public static void main(String[] args) throws Exception {
    try (Connection c = DriverManager.getConnection(args[0], args[1], args[2])) {
      try (Statement st = c.createStatement()) {
        st.execute("DROP TYPE IF EXISTS jdbc_mood");
        st.execute("CREATE TYPE jdbc_mood AS ENUM ('ok', 'slow')");
      }
      // Past prepareThreshold (5) pgjdbc switches to a named server-side statement.
      try (PreparedStatement ps = c.prepareStatement("SELECT ?::int + 1 AS n")) {
        for (int i = 0; i < 7; ++i) {
          ps.setInt(1, i);
          try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            if (rs.getInt(1) != i + 1) throw new AssertionError("wrong answer");
          }
        }
      }
      // A value of a type the driver does not know yet: it looks the type up.
      try (PreparedStatement ps = c.prepareStatement("SELECT 'slow'::jdbc_mood AS m");
           ResultSet rs = ps.executeQuery()) {
        rs.next();
        Object o = rs.getObject(1);
        System.out.println("mood " + o + " " + rs.getMetaData().getColumnTypeName(1));
      }
      // An array parameter by type name: another lookup.
      try (PreparedStatement ps = c.prepareStatement("SELECT cardinality(?) AS n")) {
        ps.setArray(1, c.createArrayOf("jdbc_mood", new Object[] {"ok", "slow"}));
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          System.out.println("cardinality " + rs.getInt(1));
        }
      }
      c.setAutoCommit(false);
      try (Statement st = c.createStatement()) {
        st.execute("SELECT 42");
      }
      c.commit();
      System.out.println("done");
    }
  }
}
